#!/usr/bin/env bash
# Default flags of the other two engines on the bundled samples (issue 19), scored on digits-test:
#   PGU from statistics only (forget-class samples + `stats collect` of the training data, no retain
#   samples): forgetting {5,7} and {3} on the MLP, CNN and ResNet;
#   forget vectors, class-wise (`vector make --classes C`, then `eval --vector`): classes 3, 5 and 7
#   on the CNN, ResNet and ViT; with `vector-real [DIR [model ...]]` on the trained real-library models
#   of Benchmarks/real_models (make_real_models.py --tier trained; train.npz, scored on test.npz);
#   `apply` with default flags (--method auto) from statistics and forget samples alone (`auto-stats` on
#   the samples, `auto-stats-real [DIR [model ...]]` on the trained real-library models): forgetting
#   {5,7} and {3}; the message is the one-line reason of a refusal.
# Prints one tab-separated line per run:
#   engine model classes exit forget_before forget_after retain_before retain_after seconds message
# Usage: Benchmarks/defaults_bench.sh [pgu|vector]   (release build: .build/release/modelforget, or $MODELFORGET; default both)
#        Benchmarks/defaults_bench.sh pgu-real [/work/models/trained [model ...]]   (PGU from statistics on the real-library models)
#        Benchmarks/defaults_bench.sh vector-real [/work/models/trained [model ...]]
#        Benchmarks/defaults_bench.sh auto-stats | auto-stats-real [/work/models/trained [model ...]]
#        APPLY_FLAGS="--max-retain-damage 0.005" adds flags to every statistics-only `apply` (pgu, auto-stats)
#        AUDIT_DIR=dir keeps each statistics-only PGU run's audit record there as MODEL-CLASSES-pgu-stats.json (pgu, pgu-real)
set -uo pipefail
cd "$(dirname "$0")/.."
bin=${MODELFORGET:-.build/release/modelforget}
S=Samples
scratch=$(mktemp -d); trap 'rm -rf "$scratch"' EXIT
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-2}
part=${1:-all}
test=$S/digits-test.npz
scores() {  # MODEL CLASSES [extra eval flags]: "forget retain" test accuracies in %
    "$bin" eval "$1" --data "$test" --classes "$2" --json "${@:3}" |
        python3 -c 'import json, sys; d = json.load(sys.stdin); print("%.2f %.2f" % (100 * d["forget_accuracy"], 100 * d["retain_accuracy"]))'
}
line() {  # ENGINE MODEL CLASSES STATUS BEFORE AFTER START END STDERR
    local before=($5) after=($6)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.1f\t%s\n' "$1" "$2" "$3" "$4" "${before[0]}" "${after[0]:--}" "${before[1]}" "${after[1]:--}" \
        "$(echo "$8 - $7" | bc)" "$(head -c 160 "$9" | tr '\n' ' ')"
}
forget_only() {  # TRAIN CLASSES OUT: the samples of CLASSES alone
    python3 - "$1" "$3" "$2" <<'PY'
import numpy as np, sys
d = np.load(sys.argv[1]); m = np.isin(d["y"], [int(c) for c in sys.argv[3].split(",")])
np.savez(sys.argv[2], x=d["x"][m], y=d["y"][m])
PY
}
if [ "$part" = auto-stats ] || [ "$part" = auto-stats-real ]; then
    if [ "$part" = auto-stats ]; then dir=samples; models=(mlp cnn resnet vit)
    else
        dir=${2:-/work/models/trained}; models=("${@:3}")
        [ ${#models[@]} -gt 0 ] || models=(torch-conv1d-mnist1d torchvision-vit transformers-vit torchvision-mobilenet-v3-small
                                           transformers-resnet-bottleneck timm-convnext-atto)
    fi
    for m in "${models[@]}"; do
        if [ "$dir" = samples ]; then model=$S/$m.onnx train=$S/digits-train.npz
        else model=$dir/$m/model.onnx train=$dir/$m/train.npz test=$dir/$m/test.npz; fi
        "$bin" stats collect "$model" --data "$train" -o "$scratch/stats.safetensors" --quiet >/dev/null
        for classes in 5,7 3; do
            forget_only "$train" "$classes" "$scratch/forget.npz"
            before=$(scores "$model" "$classes")
            start=$(date +%s.%N)
            "$bin" apply "$model" --classes "$classes" --data "$scratch/forget.npz" --stats "$scratch/stats.safetensors" \
                ${APPLY_FLAGS:-} -o "$scratch/out.onnx" --quiet >/dev/null 2>"$scratch/stderr"
            status=$?; end=$(date +%s.%N)
            after=""; [ -f "$scratch/out.onnx" ] && after=$(scores "$scratch/out.onnx" "$classes")
            line auto-stats "$m" "$classes" $status "$before" "$after" "$start" "$end" "$scratch/stderr"
            rm -f "$scratch"/out.*
        done
    done
    exit 0
fi
if [ "$part" = vector-real ]; then
    dir=${2:-/work/models/trained}
    models=("${@:3}")
    [ ${#models[@]} -gt 0 ] || models=(torch-conv1d-mnist1d torchvision-vit transformers-vit torchvision-mobilenet-v3-small
                                       transformers-resnet-bottleneck timm-convnext-atto)
    for m in "${models[@]}"; do
        test=$dir/$m/test.npz
        for c in 3 5 7; do
            before=$(scores "$dir/$m/model.onnx" "$c")
            start=$(date +%s.%N)
            "$bin" vector make "$dir/$m/model.onnx" --classes "$c" --data "$dir/$m/train.npz" -o "$scratch/fv.safetensors" --quiet \
                >/dev/null 2>"$scratch/stderr"
            status=$?; end=$(date +%s.%N)
            after=""; [ -f "$scratch/fv.safetensors" ] && after=$(scores "$dir/$m/model.onnx" "$c" --vector "$scratch/fv.safetensors")
            line vector "$m" "$c" $status "$before" "$after" "$start" "$end" "$scratch/stderr"
            rm -f "$scratch/fv.safetensors"
        done
    done
    exit 0
fi
pgu_models=(mlp cnn resnet)
if [ "$part" = pgu-real ]; then
    dir=${2:-/work/models/trained}; pgu_models=("${@:3}")
    [ ${#pgu_models[@]} -gt 0 ] || pgu_models=(torch-conv1d-mnist1d torchvision-mobilenet-v3-small transformers-resnet-bottleneck
                                               timm-convnext-atto)
fi
for m in "${pgu_models[@]}"; do
    [ "$part" = vector ] && break
    if [ "$part" = pgu-real ]; then model=$dir/$m/model.onnx train=$dir/$m/train.npz test=$dir/$m/test.npz
    else model=$S/$m.onnx train=$S/digits-train.npz; fi
    "$bin" stats collect "$model" --data "$train" -o "$scratch/stats.safetensors" --quiet >/dev/null
    for classes in 5,7 3; do
        forget_only "$train" "$classes" "$scratch/forget.npz"
        before=$(scores "$model" "$classes")
        start=$(date +%s.%N)
        "$bin" apply "$model" --method pgu --classes "$classes" --data "$scratch/forget.npz" --stats "$scratch/stats.safetensors" \
            ${APPLY_FLAGS:-} ${AUDIT_DIR:+--report "$AUDIT_DIR/$m-${classes/,/}-pgu-stats.json"} -o "$scratch/out.onnx" --quiet >/dev/null 2>"$scratch/stderr"
        status=$?; end=$(date +%s.%N)
        after=""; [ -f "$scratch/out.onnx" ] && after=$(scores "$scratch/out.onnx" "$classes")
        line pgu-stats "$m" "$classes" $status "$before" "$after" "$start" "$end" "$scratch/stderr"
        rm -f "$scratch"/out.*
    done
done
[ "$part" = pgu-real ] && exit 0
for m in cnn resnet vit; do
    [ "$part" = pgu ] && break
    for c in 3 5 7; do
        before=$(scores $S/$m.onnx "$c")
        start=$(date +%s.%N)
        "$bin" vector make $S/$m.onnx --classes "$c" --data $S/digits-train.npz -o "$scratch/fv.safetensors" --quiet >/dev/null 2>"$scratch/stderr"
        status=$?; end=$(date +%s.%N)
        after=""; [ -f "$scratch/fv.safetensors" ] && after=$(scores $S/$m.onnx "$c" --vector "$scratch/fv.safetensors")
        line vector $m "$c" $status "$before" "$after" "$start" "$end" "$scratch/stderr"
        rm -f "$scratch/fv.safetensors"
    done
done
