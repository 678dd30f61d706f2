#!/usr/bin/env bash
# Builds Release and writes benchmarks/results/ratio-1.md and ratio-2.md: CurvNative vs PyTorch
# (tools/bench_torch.py, system python) with 1 and 2 threads, each measured RUNS times (default 3)
# in one process tree; the table keeps the median run and lists every run.
#   benchmarks/run.sh            # threads 1 and 2, 3 runs each
#   RUNS=1 benchmarks/run.sh 2   # only threads 2, one run
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
runs="${RUNS:-3}"
threads=("$@")
[ ${#threads[@]} -eq 0 ] && threads=(1 2)
dotnet build benchmarks/CurvNative.Benchmarks -c Release -v quiet -nologo
for t in "${threads[@]}"; do
    dotnet run -c Release --no-build --project benchmarks/CurvNative.Benchmarks -- ratio --threads "$t" --runs "$runs"
done
