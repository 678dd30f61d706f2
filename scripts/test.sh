#!/usr/bin/env bash
# Installs missing system packages, builds and runs every test project of CurvNative.sln in Release, then packs
# and runs the package sample (scripts/sample.sh), prints each failure, and ends with one line
# "N passed, N failed" (", N skipped" when some were).
# Exits non-zero when the build failed, a test failed, or no test ran.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

if ! bash scripts/install-deps.sh; then
    echo "test.sh: installing dependencies failed" >&2
    echo "0 passed, 0 failed"
    exit 1
fi

RESULTS="$ROOT/artifacts/test-results"
rm -rf "$RESULTS"
mkdir -p "$RESULTS"

dotnet test CurvNative.sln -c Release --results-directory "$RESULTS" --logger "trx" \
    </dev/null
status=$?

# Sum the counters of every TRX file (one per test project).
passed=0 failed=0 skipped=0 total=0 files=0
shopt -s nullglob
for trx in "$RESULTS"/*.trx; do
    files=$((files + 1))
    counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)
    get() { sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p" <<<"$counters"; }
    t=$(get total); e=$(get executed); p=$(get passed); f=$(get failed); er=$(get error); to=$(get timeout)
    t=${t:-0}; e=${e:-0}; p=${p:-0}; f=${f:-0}; er=${er:-0}; to=${to:-0}
    total=$((total + t)); passed=$((passed + p)); failed=$((failed + f + er + to))
    skipped=$((skipped + t - e))
done

# The packages as users take them: pack (no rebuild), run samples/CurvNative.Sample against the CurvNative package
# from the local feed and install the dotnet tool (scripts/sample.sh); each of its checks counts as one test.
if [ "$files" -gt 0 ]; then
    echo
    echo "==================== packages (scripts/sample.sh) ===================="
    sample_out="$(bash scripts/sample.sh --no-build 2>&1)"
    echo "$sample_out"
    sample_passed=$(grep -c '^sample: PASS' <<<"$sample_out")
    sample_failed=$(grep -c '^sample: FAIL' <<<"$sample_out")
    if [ "$((sample_passed + sample_failed))" -eq 0 ]; then sample_failed=1; fi
    passed=$((passed + sample_passed)); failed=$((failed + sample_failed))
    if [ "$sample_failed" -gt 0 ]; then sample_failures="$(grep '^sample: FAIL' <<<"$sample_out")"; fi
fi

# Per-failure details from the TRX files (the console logger printed them too, interleaved with output).
if [ "$failed" -gt 0 ]; then
    echo
    echo "==================== failed tests ===================="
    for trx in "$RESULTS"/*.trx; do
        awk '
            /<UnitTestResult / && /outcome="(Failed|Error|Timeout)"/ {
                infail = 1
                match($0, /testName="[^"]*"/); name = substr($0, RSTART + 10, RLENGTH - 11)
                print "FAILED: " name
                next
            }
            infail && /<\/UnitTestResult>/ { infail = 0; print ""; next }
            infail && /<Message>/ { inmsg = 1 }
            infail && /<StackTrace>/ { instack = 1; lines = 0 }
            infail && (inmsg || instack) {
                line = $0
                gsub(/<\/?(Message|StackTrace)>/, "", line)
                gsub(/&lt;/, "<", line); gsub(/&gt;/, ">", line); gsub(/&quot;/, "\"", line); gsub(/&apos;/, "'"'"'", line); gsub(/&amp;/, "\\&", line)
                if (instack) { if (lines++ < 8) print "    " line } else print "  " line
            }
            infail && /<\/Message>/ { inmsg = 0 }
            infail && /<\/StackTrace>/ { instack = 0 }
        ' "$trx"
    done
    if [ -n "${sample_failures:-}" ]; then echo "FAILED: $sample_failures (output above)"; fi
fi

exit_code=0
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
    echo "test.sh: dotnet test exited with $status (build failure or test host crash); see the output above" >&2
    exit_code=1
fi
if [ "$failed" -gt 0 ]; then exit_code=1; fi
if [ "$files" -eq 0 ] || [ "$((passed + failed))" -eq 0 ]; then
    echo "test.sh: no test results were produced" >&2
    exit_code=1
fi

summary="$passed passed, $failed failed"
if [ "$skipped" -gt 0 ]; then summary="$summary, $skipped skipped"; fi
echo "$summary"
exit "$exit_code"
