#!/usr/bin/env bash
# Writes the NuGet packages to artifacts/packages/ (symbols beside them as .snupkg):
#   CurvNative            what an application references (depends on the five below)
#   CurvNative.Core       tensors, autodiff, OpenBLAS bindings, runtimes/linux-x64/native/libcurvnative.so and
#                         buildTransitive/CurvNative.Core.props (the GC settings for consuming executables)
#   CurvNative.NN, CurvNative.Operators, CurvNative.Solvers, CurvNative.Interop
#   CurvNative.Plots      PNG/SVG charts (ScottPlot), not a dependency of CurvNative
#   CurvNative.Kernels.Gpu the ILGPU backend of the kernel seam (ILGPU 1.5.3), not a dependency of CurvNative
#   CurvNative.Cli        the .NET tool `curvnative`
# The version is the one in Directory.Build.props. Extra arguments go to `dotnet pack` (e.g. --no-build after a
# Release build, as scripts/test.sh does).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
bash scripts/install-deps.sh >/dev/null
rm -rf artifacts/packages
log="$(mktemp)"
if ! dotnet pack CurvNative.sln -c Release -nologo "$@" </dev/null >"$log" 2>&1; then
    cat "$log" >&2; rm -f "$log"
    echo "pack.sh: dotnet pack failed (output above)" >&2
    exit 1
fi
rm -f "$log"
ls -1 artifacts/packages
