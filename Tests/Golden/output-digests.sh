#!/usr/bin/env bash
# Runs every output-writing command of modelforget on the bundled samples and prints one SHA-256 per
# output, so that a refactoring can show its outputs are byte-identical to before:
#
#   Tests/Golden/output-digests.sh > before.txt      # on the old commit
#   Tests/Golden/output-digests.sh > after.txt       # on the new one
#   diff before.txt after.txt                        # no output: nothing changed
#
# or compare against the digests committed beside this script:
#
#   Tests/Golden/output-digests.sh --check           # exit 1 and a diff if any output changed
#   Tests/Golden/output-digests.sh --record          # rewrite Tests/Golden/output-digests.txt
#
# Audit records and summaries carry wall-clock timings; those fields are removed before hashing
# (`timings_seconds`, and `seconds`/"in N s" of the summaries). Everything else is hashed as written.
# The committed digests hold for one CPU family: float32 products go through OpenBLAS, whose
# kernels (chosen at run time: `OPENBLAS_VERBOSE=2` prints the core) round differently on another
# family, so --check is meaningful only against digests recorded on the same kind of machine
# (recorded on: Intel Xeon, OpenBLAS 0.3.21 core "Prescott", 2026-12-07; earlier files: AMD EPYC,
# core "Zen", and Intel Sapphire Rapids, core "Prescott"). Across machines, compare before/after runs on one machine instead.
# Uses the release build (.build/release/modelforget; built if missing) and python3 for the JSON.
set -euo pipefail
cd "$(dirname "$0")/../.."
mode=${1:-print}
bin=${MODELFORGET:-.build/release/modelforget}
[ -x "$bin" ] || swift build -c release >/dev/null
bin=$(realpath "$bin")
repo=$(pwd)
# Paths appear in audit records and summaries: run in a scratch folder with relative names only.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
ln -s "$repo/Samples" "$scratch/Samples"
mkdir "$scratch/out"
cd "$scratch"
work=out
S=Samples
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-2}

# Strips timing fields from a JSON document (audit records, summaries) and prints it canonically.
untimed_json() {
    python3 - "$1" <<'EOF'
import json, sys
def strip(v):
    if isinstance(v, dict):
        return {k: strip(x) for k, x in v.items() if k not in ("timings_seconds", "seconds")}
    if isinstance(v, list):
        return [strip(x) for x in v]
    return v
print(json.dumps(strip(json.load(open(sys.argv[1]))), sort_keys=True, indent=1))
EOF
}

# Runs a command whose stdout is a summary line with "in N.NN s"; keeps stdout without the time.
run() {
    local name=$1; shift
    "$bin" "$@" > "$work/$name.stdout"
    sed -E 's/ in [0-9]+\.[0-9]+ s/ in _ s/' "$work/$name.stdout" > "$work/$name.stdout.untimed"
}

digest() {  # name file...
    local name=$1; shift
    for f in "$@"; do
        case "$f" in
            *.json) printf '%s  %s\n' "$(untimed_json "$f" | sha256sum | cut -c1-64)" "$name:$(basename "$f") (untimed)" ;;
            *) printf '%s  %s\n' "$(sha256sum < "$f" | cut -c1-64)" "$name:$(basename "$f")" ;;
        esac
    done
}

{
# apply, SVD, with search and evaluation, safetensors
run svd-cnn apply $S/cnn.safetensors --classes 5,7 --data $S/digits-train.npz --search --eval-data $S/digits-test.npz \
    --report "$work/svd-cnn.audit.json" -o "$work/cnn.forget-5-7.safetensors" --quiet
digest svd-cnn "$work/cnn.forget-5-7.safetensors" "$work/svd-cnn.audit.json" "$work/svd-cnn.stdout.untimed"
# apply, SVD, ONNX ResNet and ViT, default settings, JSON summary
run svd-resnet apply $S/resnet.onnx --method svd --classes 3 --data $S/digits-train.npz -o "$work/resnet.forget-3.onnx" --json --quiet
untimed_json "$work/svd-resnet.stdout" > "$work/svd-resnet.summary.txt"
digest svd-resnet "$work/resnet.forget-3.onnx" "$work/svd-resnet.summary.txt"
run svd-vit apply $S/vit.onnx --method svd --classes 5,7 --data $S/digits-train.npz --eval-data $S/digits-test.npz -o "$work/vit.forget-5-7.onnx" --quiet
digest svd-vit "$work/vit.forget-5-7.onnx" "$work/svd-vit.stdout.untimed"
# npz and sharded safetensors inputs keep their format
"$bin" convert $S/mlp.safetensors "$work/mlp.npz"
run svd-npz apply "$work/mlp.npz" --method svd --classes 3 --data $S/digits-train.npz -o "$work/mlp.forget-3.npz" --quiet
digest svd-npz "$work/mlp.npz" "$work/mlp.forget-3.npz"
mkdir "$work/sharded"
"$bin" convert $S/cnn.safetensors "$work/sharded/model.safetensors" --max-shard-size 20KB
mkdir "$work/sharded-out"
run svd-sharded apply "$work/sharded/model.safetensors.index.json" --method svd --classes 3 --data $S/digits-train.npz \
    -o "$work/sharded-out/model.safetensors" --quiet
digest svd-sharded "$work/sharded"/* "$work/sharded-out"/*
# statistics: collect in parts (--shard), merge (parts given in reverse order), apply from statistics
# (SVD and PGU with --update-stats)
"$bin" stats collect $S/resnet.onnx --data $S/digits-train.npz --shard 1/2 -o "$work/part1.stats.safetensors" --quiet >/dev/null
"$bin" stats collect $S/resnet.onnx --data $S/digits-train.npz --shard 2/2 -o "$work/part2.stats.safetensors" --quiet >/dev/null
"$bin" stats merge "$work/part2.stats.safetensors" "$work/part1.stats.safetensors" -o "$work/resnet.stats.safetensors" >/dev/null
digest stats "$work/part1.stats.safetensors" "$work/part2.stats.safetensors" "$work/resnet.stats.safetensors"
run svd-stats apply $S/resnet.onnx --method svd --classes 5,7 --data $S/digits-train.npz --stats "$work/resnet.stats.safetensors" \
    -o "$work/resnet.stats-forget-5-7.onnx" --report "$work/svd-stats.audit.json" --quiet
digest svd-stats "$work/resnet.stats-forget-5-7.onnx" "$work/svd-stats.audit.json"
python3 - "$S/digits-train.npz" "$work" <<'EOF'
import numpy as np, sys
d = np.load(sys.argv[1]); m = d["y"] == 3
np.savez(sys.argv[2] + "/forget-3.npz", x=d["x"][m], y=d["y"][m])
EOF
run pgu-stats apply $S/resnet.onnx --method pgu --classes 3 --data "$work/forget-3.npz" --stats "$work/resnet.stats.safetensors" \
    --lr-start 0.3 --lr-end 0.06 --gamma 0.8 --update-stats "$work/resnet.stats-without-3.safetensors" \
    --eval-data $S/digits-test.npz -o "$work/resnet.pgu-forget-3.onnx" --report "$work/pgu-stats.audit.json" --quiet
digest pgu-stats "$work/resnet.pgu-forget-3.onnx" "$work/resnet.stats-without-3.safetensors" "$work/pgu-stats.audit.json" \
    "$work/pgu-stats.stdout.untimed"
# auto from statistics and forget samples alone: the projection is held to the estimated retain damage limit and refused,
# statistics-only PGU meets the limits on the validation split and is kept
run auto-stats apply $S/resnet.onnx --classes 3 --data "$work/forget-3.npz" --stats "$work/resnet.stats.safetensors" \
    -o "$work/resnet.auto-stats-3.onnx" --report "$work/auto-stats.audit.json" --quiet
digest auto-stats "$work/resnet.auto-stats-3.onnx" "$work/auto-stats.audit.json"
# auto with retained-class samples: the projection misses the retain limit, the retain repair after it meets it
run auto-repair apply $S/mlp.onnx --classes 5,7 --data $S/digits-train.npz -o "$work/mlp.auto-5-7.onnx" \
    --report "$work/auto-repair.audit.json" --quiet
digest auto-repair "$work/mlp.auto-5-7.onnx" "$work/auto-repair.audit.json" "$work/auto-repair.stdout.untimed"
# ... and the projection meets the limits with less than half the retain limit to spare (drop 1.79 points on validation):
# the repair towards half the limits runs and is kept
run auto-headroom apply $S/mlp.onnx --classes 3 --data $S/digits-train.npz -o "$work/mlp.auto-3.onnx" \
    --report "$work/auto-headroom.audit.json" --quiet
digest auto-headroom "$work/mlp.auto-3.onnx" "$work/auto-headroom.audit.json" "$work/auto-headroom.stdout.untimed"
# ... and on a model with attention PGU is not tried: the refused projection is written with --keep-best, exit 2
"$bin" stats collect $S/vit.onnx --data $S/digits-train.npz -o "$work/vit.stats.safetensors" --quiet >/dev/null
status=0
"$bin" apply $S/vit.onnx --classes 3 --data "$work/forget-3.npz" --stats "$work/vit.stats.safetensors" --keep-best \
    -o "$work/vit.auto-stats-3.onnx" --report "$work/auto-stats-vit.audit.json" --quiet > /dev/null 2>&1 || status=$?
[ "$status" -eq 2 ] || { echo "auto-stats-vit: exit status $status, expected 2 (limits not met, --keep-best)" >&2; exit 1; }
digest auto-stats-vit "$work/vit.auto-stats-3.onnx" "$work/auto-stats-vit.audit.json"
run pgu-data apply $S/cnn.onnx --method pgu --classes 5,7 --data $S/digits-train.npz --lr-start 0.3 --lr-end 0.06 --gamma 0.8 \
    --epochs 20 -o "$work/cnn.pgu-forget-5-7.onnx" --report "$work/pgu-data.audit.json" --quiet
digest pgu-data "$work/cnn.pgu-forget-5-7.onnx" "$work/pgu-data.audit.json"
# forget vectors: make (pixel space with normalisation constants, and normalized), combine, fit, apply
"$bin" vector make $S/cnn.onnx --classes 5 --data $S/digits-train.npz --beta 1 --lr 0.05 --epochs 8 -o "$work/fv-5.safetensors" \
    --quiet > "$work/fv-5.stdout"
"$bin" vector make $S/cnn.onnx --classes 7 --data $S/digits-train.npz --beta 1 --lr 0.05 --epochs 8 \
    -o "$work/fv-7.safetensors" --quiet > "$work/fv-7.stdout"
# (a few epochs only: these two may miss the limits, exit 2, and write the best found with --keep-best)
"$bin" vector make $S/mlp.onnx --classes 3 --data $S/digits-train.npz --epochs 4 --space pixel --mean 0.5 --std 0.25 --keep-best \
    -o "$work/fv-mlp-3.safetensors" --quiet > "$work/fv-mlp-3.stdout" 2>/dev/null || [ $? = 2 ]
"$bin" vector make $S/cnn.onnx --classes 3 --data $S/digits-train.npz --epochs 3 --space normalized --keep-best -o "$work/fv-3n.safetensors" \
    --quiet > "$work/fv-3n.stdout" 2>/dev/null || [ $? = 2 ]
digest vector-make "$work"/fv-3n.safetensors "$work"/fv-3n.stdout "$work"/fv-5.safetensors "$work"/fv-5.stdout "$work"/fv-7.safetensors "$work"/fv-7.stdout \
    "$work"/fv-mlp-3.safetensors "$work"/fv-mlp-3.stdout
"$bin" vector combine "$work/fv-5.safetensors" "$work/fv-7.safetensors" --weights 1,-0.5 -o "$work/fv-sum.safetensors" --force \
    > "$work/fv-sum.stdout"
"$bin" vector combine "$work/fv-5.safetensors" "$work/fv-7.safetensors" --fit --model $S/cnn.onnx --classes 5,7 \
    --data $S/digits-train.npz --epochs 3 -o "$work/fv-fit.safetensors" --force --quiet > "$work/fv-fit.stdout"
"$bin" vector apply "$work/fv-5.safetensors" --inputs $S/digits-test.npz -o "$work/test+fv.npz"
digest vector-combine "$work"/fv-sum.safetensors "$work"/fv-sum.stdout "$work"/fv-fit.safetensors "$work"/fv-fit.stdout "$work/test+fv.npz"
# eval, predict, diff, report
"$bin" eval $S/cnn.onnx --data $S/digits-test.npz --classes 5,7 --vector "$work/fv-5.safetensors" --quiet > "$work/eval.txt"
"$bin" eval "$work/cnn.forget-5-7.safetensors" --arch $S/cnn.onnx --data $S/digits-test.npz --classes 5,7 --json \
    --mia --train $S/digits-train.npz --quiet > "$work/eval-mia.json.txt"
"$bin" predict $S/vit.onnx --inputs $S/digits-test.npz -o "$work/vit-logits.npz" --quiet
digest eval "$work/eval.txt" "$work/eval-mia.json.txt" "$work/vit-logits.npz"
"$bin" diff $S/cnn.safetensors "$work/cnn.forget-5-7.safetensors" --json > "$work/diff.json.txt"
"$bin" diff $S/resnet.onnx "$work/resnet.forget-3.onnx" --markdown > "$work/diff.md"
"$bin" diff $S/cnn.safetensors "$work/cnn.forget-5-7.safetensors" --top 3 > "$work/diff.txt"
digest diff "$work/diff.json.txt" "$work/diff.md" "$work/diff.txt"
"$bin" report --original $S/cnn.onnx --unlearned "$work/cnn.forget-5-7.safetensors" --arch $S/cnn.onnx --data $S/digits-test.npz \
    --train $S/digits-train.npz --classes 5,7 -o "$work/report.html" --quiet
"$bin" report --original $S/cnn.onnx --vector "$work/fv-5.safetensors" --data $S/digits-test.npz --classes 5 --markdown \
    -o "$work/report-vector.md" --quiet
digest report "$work/report.html" "$work/report-vector.md"
} > "$work/digests.txt"

case "$mode" in
    --record) cp "$work/digests.txt" "$repo/Tests/Golden/output-digests.txt"; echo "recorded $(wc -l < "$work/digests.txt") digests" ;;
    --check) diff -u "$repo/Tests/Golden/output-digests.txt" "$work/digests.txt" && echo "all $(wc -l < "$work/digests.txt") outputs identical" ;;
    *) cat "$work/digests.txt" ;;
esac
