#!/usr/bin/env bash
# The retain repair's target (--repair-target outputs | labels) over several seeds: `apply` with
# default flags otherwise (--method auto, --keep-best), forgetting {5,7} and {3}, scored on each
# model's held-out test data against the default limits (forget <= 2 %, retain drop <= 2 points).
# Prints one tab-separated line per run:
#   model classes seed target kept met_validation forget_after retain_drop met_test
# then, per target, how many runs kept svd+repair and how many of those miss on the test data.
# Usage: Benchmarks/repair_target_seeds.sh [MODELS_DIR] [seeds...]   (release build; default seeds 0 1 2 3)
#        MODELS="sample-cnn timm-convnext-atto ..." picks the models (sample-NAME: Samples/NAME.onnx; default: the
#        sample MLP and ViT, both trained ViTs and the Conv1d); TARGETS=outputs runs one target only (default: "outputs labels"); MODELFORGET=binary picks the build
set -uo pipefail
cd "$(dirname "$0")/.."
dir=${1:-/work/models/trained}; shift || true
seeds=("$@"); [ ${#seeds[@]} -gt 0 ] || seeds=(0 1 2 3)
bin=${MODELFORGET:-.build/release/modelforget}
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-2}
scratch=$(mktemp -d); trap 'rm -rf "$scratch"' EXIT
cases=()
for m in ${MODELS:-sample-mlp sample-vit torchvision-vit transformers-vit torch-conv1d-mnist1d}; do
    case $m in
        sample-*) cases+=("$m Samples/${m#sample-}.onnx Samples/digits-train.npz Samples/digits-test.npz") ;;
        *) [ -f "$dir/$m/model.onnx" ] && cases+=("$m $dir/$m/model.onnx $dir/$m/train.npz $dir/$m/test.npz") ;;
    esac
done
for seed in "${seeds[@]}"; do
    for spec in "${cases[@]}"; do
        read -r name model train test <<< "$spec"
        for classes in 5,7 3; do
            for target in ${TARGETS:-outputs labels}; do
                "$bin" apply "$model" --classes "$classes" --data "$train" --eval-data "$test" --seed "$seed" --repair-target "$target" \
                    --keep-best -o "$scratch/out.onnx" --json --quiet > "$scratch/summary.json" 2> "$scratch/stderr.txt"
                python3 - "$name" "$classes" "$seed" "$target" "$scratch/summary.json" <<'PY'
import json, sys
name, classes, seed, target, path = sys.argv[1:]
s = json.load(open(path))
v = s.get("contract_verdict") or {}
drop = 100 * (s["retain_accuracy_before"] - s["retain_accuracy_after"])
met = s["forget_accuracy_after"] <= 0.02 + 1e-12 and drop <= 2 + 1e-9
print("\t".join([name, classes, seed, target, s.get("kept") or "-", "yes" if v.get("meets") else "no",
                 f"{100 * s['forget_accuracy_after']:.2f}", f"{drop:.2f}", "yes" if met else "no"]))
PY
                rm -f "$scratch"/out.*
            done
        done
    done
done | tee "$scratch/lines.tsv"
python3 - "$scratch/lines.tsv" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
for target in sorted({r[3] for r in rows}, key=("outputs", "labels").index):
    repaired = [r for r in rows if r[3] == target and r[4] == "svd+repair"]
    misses = [r for r in repaired if r[8] == "no"]
    drops = [float(r[7]) for r in repaired]
    print(f"{target}: {len(repaired)} runs kept svd+repair, {len(misses)} miss on the test data; "
          f"mean retain drop {sum(drops) / max(len(drops), 1):.2f} points, largest {max(drops, default=0):.2f}")
PY
