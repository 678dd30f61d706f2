#!/usr/bin/env bash
# Builds Release and writes benchmarks/results/ratio-1.md and ratio-2.md: CurvNative vs PyTorch
# (tools/bench_torch.py, system python with Debian's python3-torch, installed when missing) with 1 and 2 threads,
# each measured RUNS times (default 3) in one process tree; the table keeps the median run and lists every run.
#   benchmarks/run.sh            # threads 1 and 2, 3 runs each
#   RUNS=1 benchmarks/run.sh 2   # only threads 2, one run
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
runs="${RUNS:-3}"
threads=("$@")
[ ${#threads[@]} -eq 0 ] && threads=(1 2)
# The PyTorch column needs Debian's python3-torch: installed here when missing, else the column is skipped.
torch=()
log="$(mktemp)"
if ! bash scripts/install-deps.sh --bench >"$log" 2>&1; then
    echo "benchmarks/run.sh: the PyTorch column is skipped: installing python3-torch failed ($(grep -v '^\s*$' "$log" | tail -n 1))" >&2
    torch=(--no-torch)
fi
rm -f "$log"
dotnet build benchmarks/CurvNative.Benchmarks -c Release -v quiet -nologo
for t in "${threads[@]}"; do
    dotnet run -c Release --no-build --project benchmarks/CurvNative.Benchmarks -- ratio --threads "$t" --runs "$runs" "${torch[@]}"
done
