#!/usr/bin/env bash
# Installs missing system packages, builds CurvNative in Release and runs the demo on the
# embedded digits data set. Extra arguments go to `curvnative demo`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
bash scripts/install-deps.sh >/dev/null
log="$(mktemp)"
if ! dotnet build src/CurvNative.Cli -c Release -nologo >"$log" 2>&1; then
    cat "$log" >&2; rm -f "$log"; exit 1
fi
rm -f "$log"
exec dotnet src/CurvNative.Cli/bin/Release/net10.0/curvnative.dll demo "$@"
