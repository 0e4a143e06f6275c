#!/usr/bin/env bash
# Builds the libFuzzer targets (release, -sanitize=fuzzer,address) and runs one of them.
#
#   Fuzz/run.sh TARGET SECONDS [extra libFuzzer flags]
#   Fuzz/run.sh all SECONDS          # every target, one after another, SECONDS each
#   FUZZ_SKIP_BUILD=1 Fuzz/run.sh …  # run the binaries of the last build
#
# TARGET is safetensors, npy, npz, onnx-model or onnx-graph. Seeds come from Samples/ and
# Formats/fixtures/ (copied into Fuzz/.corpus/TARGET, which keeps what the fuzzer adds);
# findings (crash-*, leak-*, timeout-*, oom-*) go to Fuzz/.artifacts/TARGET/. Each run appends
# a line to Fuzz/.runs.log: target, seconds, executions, findings. Runs at nice 19, one
# worker: the machine is shared. Exit status 0 when nothing was found.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
target="${1:?usage: Fuzz/run.sh TARGET|all SECONDS [libFuzzer flags]}"
seconds="${2:?usage: Fuzz/run.sh TARGET|all SECONDS [libFuzzer flags]}"
shift 2

if [ "$target" = all ]; then
    status=0
    for t in safetensors npy npz onnx-model onnx-graph; do "$0" "$t" "$seconds" "$@" || status=1; done
    exit $status
fi

case "$target" in
    safetensors) seeds=("$root"/Samples/*.safetensors "$root"/Formats/fixtures/hostile/*.safetensors "$root"/Formats/fixtures/hostile/*.json); max_len=70000 ;;
    npy) seeds=("$root"/Formats/fixtures/numpy/*.npy "$root"/Formats/fixtures/hostile/*.npy); max_len=4096 ;;
    npz) seeds=("$root"/Formats/fixtures/numpy/*.npz "$root"/Samples/*.expected.npz "$root"/Formats/fixtures/hostile/*.npz); max_len=70000 ;;
    onnx-model|onnx-graph) seeds=("$root"/Formats/fixtures/onnx/*.onnx "$root"/Samples/mlp.onnx "$root"/Samples/cnn.onnx "$root"/Formats/fixtures/hostile/*.onnx); max_len=70000 ;;
    *) echo "unknown target '$target' (safetensors, npy, npz, onnx-model, onnx-graph, all)" >&2; exit 64 ;;
esac

cd "$here"
# FUZZ_SKIP_BUILD=1 reuses the last build (for runs that go on while the sources change).
if [ "${FUZZ_SKIP_BUILD:-0}" != 1 ]; then
    nice -n 19 swift build -c release -Xswiftc -sanitize=fuzzer,address --product "fuzz-$target" >&2
fi
binary="$(swift build -c release -Xswiftc -sanitize=fuzzer,address --show-bin-path)/fuzz-$target"

corpus="$here/.corpus/$target"
artifacts="$here/.artifacts/$target"
mkdir -p "$corpus" "$artifacts"
for seed in "${seeds[@]}"; do
    [ -f "$seed" ] && [ "$(stat -c %s "$seed")" -le "$max_len" ] && cp -n "$seed" "$corpus/" || true
done

log="$(mktemp)"
# The Swift runtime's own crash handler would read memory that AddressSanitizer guards.
export SWIFT_BACKTRACE=enable=no
set +e
nice -n 19 "$binary" "$corpus" -max_total_time="$seconds" -max_len="$max_len" -rss_limit_mb=4096 -timeout=10 \
    -artifact_prefix="$artifacts/" -print_final_stats=1 "$@" 2>&1 | tee "$log" >&2
status=${PIPESTATUS[0]}
set -e
runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)"
findings="$(grep -c '^artifact_prefix\|Test unit written to' "$log" || true)"
echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $target seconds=$seconds runs=${runs:-?} status=$status findings=$findings" >> "$here/.runs.log"
rm -f "$log"
exit "$status"
