#!/usr/bin/env bash
# apply with default flags (--method auto) against plain `--method svd` on the trained real-library
# models of Benchmarks/real_models (make_real_models.py, trained tier): forgetting {5,7} and {3},
# scored on each model's held-out test.npz. Prints one tab-separated line per run:
#   model classes method exit forget_before forget_after retain_before retain_after met_validation met_test kept seconds mia
# (mia: MIA-efficacy of the written model, confidence variant, `eval --mia` with the training data as members)
# (met_test: forget accuracy after <= 2 % and retain drop <= 2 points on test.npz, the default limits)
# (AUDIT_DIR=dir keeps each run's audit record there as MODEL-CLASSES-METHOD.json)
# Usage: Benchmarks/auto_real_models.sh [MODELS_DIR] [model ...]   (release build, one run at a time)
#        Benchmarks/auto_real_models.sh samples [mlp cnn resnet vit]   (the bundled samples on the digits split)
set -uo pipefail
cd "$(dirname "$0")/.."
dir=${1:-/work/models/trained}; shift || true
bin=${MODELFORGET:-.build/release/modelforget}
models=("$@")
[ ${#models[@]} -gt 0 ] || [ "$dir" != samples ] || models=(mlp cnn resnet vit)
[ ${#models[@]} -gt 0 ] || models=(torch-conv1d-mnist1d torchvision-resnet18 torchvision-vit timm-deit-distilled transformers-vit
                                   torchvision-mobilenet-v3-small transformers-resnet-bottleneck timm-convnext-atto torchvision-efficientnet-b0)
scratch=$(mktemp -d); trap 'rm -rf "$scratch"' EXIT
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-2}
for m in "${models[@]}"; do
    for classes in 5,7 3; do
        for method in auto svd; do
            start=$(date +%s.%N)
            if [ "$dir" = samples ]; then model=Samples/$m.onnx train=Samples/digits-train.npz test=Samples/digits-test.npz
            else model=$dir/$m/model.onnx train=$dir/$m/train.npz test=$dir/$m/test.npz; fi
            "$bin" apply "$model" --classes "$classes" --data "$train" --eval-data "$test" \
                --method "$method" --keep-best -o "$scratch/out.onnx" --report "$scratch/audit.json" --json --quiet \
                > "$scratch/summary.json" 2> "$scratch/stderr.txt"
            status=$?
            end=$(date +%s.%N)
            [ -z "${AUDIT_DIR:-}" ] || cp "$scratch/audit.json" "$AUDIT_DIR/$m-${classes/,/}-$method.json" 2>/dev/null
            mia=-
            if [ -f "$scratch/out.onnx" ]; then
                mia=$("$bin" eval "$scratch/out.onnx" --data "$test" --train "$train" --classes "$classes" --mia --json 2>/dev/null |
                      python3 -c 'import json, sys; print("%.3f" % json.load(sys.stdin)["mia"][0]["value"])' 2>/dev/null || echo -)
            fi
            python3 - "$m" "$classes" "$method" "$status" "$start" "$end" "$scratch/summary.json" "$scratch/stderr.txt" "$mia" <<'PY'
import json, sys
m, classes, method, status, start, end, summary, stderr, mia = sys.argv[1:]
try:
    s = json.load(open(summary))
except Exception:
    print("\t".join([m, classes, method, status, "error: " + open(stderr).read().strip()[:200]])); sys.exit()
pct = lambda v: "-" if v is None else f"{100 * v:.2f}"
v = s.get("contract_verdict") or {}
print("\t".join([m, classes, method, status, pct(s["forget_accuracy_before"]), pct(s["forget_accuracy_after"]),
                 pct(s["retain_accuracy_before"]), pct(s["retain_accuracy_after"]),
                 {True: "yes", False: "no"}.get(v.get("meets"), "-"),
                 "yes" if s["forget_accuracy_after"] <= 0.02 and (s["retain_accuracy_before"] - s["retain_accuracy_after"]) * 100 <= 2 else "no",
                 s.get("kept") or "-", f"{float(end) - float(start):.1f}", mia]))
PY
            rm -f "$scratch"/out.*
        done
    done
done
