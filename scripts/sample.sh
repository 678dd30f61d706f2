#!/usr/bin/env bash
# Packs CurvNative (scripts/pack.sh), then uses the packages as a user would:
#   1. samples/CurvNative.Sample restores CurvNative from artifacts/packages (into a fresh package folder, so a
#      stale copy in the NuGet cache cannot hide a broken package), builds and runs; it checks its own results;
#   2. the tool CurvNative.Cli installs into a temporary tool path, `curvnative --help` runs and `curvnative density`
#      draws the sample model's spectral density as PNG (native kernels and SkiaSharp from the tool package).
# Prints "sample: PASS|FAIL <what>" per check and exits non-zero when one failed. Extra arguments go to
# scripts/pack.sh (scripts/test.sh passes --no-build after its Release build).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

if ! bash scripts/pack.sh "$@" >/dev/null; then
    echo "sample: FAIL packing (scripts/pack.sh)"
    exit 1
fi

failed=0
log="$(mktemp)"
tools="$(mktemp -d)"
model=samples/CurvNative.Sample/model
trap 'rm -rf "$log" "$tools"' EXIT

rm -rf artifacts/sample-packages samples/CurvNative.Sample/bin samples/CurvNative.Sample/obj
if dotnet build samples/CurvNative.Sample -c Release -nologo </dev/null >"$log" 2>&1 \
    && dotnet samples/CurvNative.Sample/bin/Release/net10.0/CurvNative.Sample.dll </dev/null >>"$log" 2>&1; then
    grep -v '^\s*$' "$log" | sed -n '/^GC region size/,$p'
    echo "sample: PASS samples/CurvNative.Sample from the CurvNative package"
else
    cat "$log"
    echo "sample: FAIL samples/CurvNative.Sample from the CurvNative package"
    failed=1
fi

if dotnet tool install --tool-path "$tools" --add-source artifacts/packages --version "$(dotnet msbuild src/CurvNative.Cli -getProperty:Version)" \
        CurvNative.Cli </dev/null >"$log" 2>&1 \
    && "$tools/curvnative" --help </dev/null >>"$log" 2>&1 && grep -q '^Usage:' "$log" \
    && "$tools/curvnative" density --model "$model/model.json" --weights "$model/weights.safetensors" --data "$model/data.safetensors" \
        --curvature ggn --out "$tools/density.json" --plot "$tools/density.png" --quiet </dev/null >>"$log" 2>&1 \
    && [ "$(head -c 4 "$tools/density.png" | tail -c 3)" = "PNG" ]; then
    echo "sample: PASS dotnet tool CurvNative.Cli (curvnative --help; density of the sample's CNN as PNG)"
else
    cat "$log"
    echo "sample: FAIL dotnet tool CurvNative.Cli (curvnative --help; density of the sample's CNN as PNG)"
    failed=1
fi
exit "$failed"
