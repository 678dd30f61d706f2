#!/usr/bin/env bash
# Installs missing system packages, builds CurvNative in Release and runs the demo on the
# embedded digits data set. Extra arguments go to `curvnative demo`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
bash scripts/install-deps.sh >/dev/null
dotnet build src/CurvNative.Cli -c Release -v quiet -nologo >/dev/null
exec dotnet src/CurvNative.Cli/bin/Release/net10.0/curvnative.dll demo "$@"
