#!/usr/bin/env python3
"""Float32-block Grams (the default) against the float64 path, on the sample models.

For each sample model and forget set: `modelforget apply Samples/M.onnx --method svd --classes C
--data Samples/digits-train.npz --eval-data Samples/digits-test.npz` with default flags (and with
--search), once as is and once with MODELFORGET_GRAM_PRECISION=float64; prints the forget and
retain test accuracies after the edit of both, their difference in points, and whether the two
output models are byte-identical, and the largest difference between their weights, relative to
the largest magnitude of that tensor (max over tensors of max|W₆₄ − W₃₂| / max|W₆₄|). OPENBLAS_NUM_THREADS defaults to 1 for the children (modelforget
parallelises itself; set it to override).
Usage: python3 Benchmarks/gram_precision.py [--binary .build/release/modelforget] [--models resnet,cnn,mlp,vit]
"""
import argparse, json, os, subprocess, tempfile
import numpy as np
import onnx
from onnx import numpy_helper

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def largest_relative_difference(a, b):
    """max over float initializers of max|a − b| / max|a| (0 when the weights are equal)."""
    first = {t.name: numpy_helper.to_array(t) for t in onnx.load_from_string(a).graph.initializer}
    worst = 0.0
    for t in onnx.load_from_string(b).graph.initializer:
        y = numpy_helper.to_array(t)
        x = first[t.name]
        if x.dtype.kind == "f" and x.size and np.abs(x).max() > 0:
            worst = max(worst, float(np.abs(x.astype(np.float64) - y).max() / np.abs(x).max()))
    return worst


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=os.path.join(root, ".build/release/modelforget"))
    parser.add_argument("--models", default="resnet,cnn,mlp,vit")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="mf-gram-precision-")
    print("| model | classes | flags | forget acc. after: float64 → float32 blocks | retain acc. after: float64 → float32 blocks | Δ forget, Δ retain (points) | α (r, f) | outputs identical | largest weight difference (relative) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.models.split(","):
        for classes in ("5,7", "3"):
            for flags in ([], ["--search"]):
                results, outputs = {}, {}
                for precision in ("float64", "float32"):
                    out = os.path.join(work, f"{name}-{precision}.onnx")
                    env = dict(os.environ, MODELFORGET_GRAM_PRECISION=precision)
                    env.setdefault("OPENBLAS_NUM_THREADS", "1")
                    cmd = [args.binary, "apply", os.path.join(root, f"Samples/{name}.onnx"), "--method", "svd", "--classes", classes,
                           "--data", os.path.join(root, "Samples/digits-train.npz"),
                           "--eval-data", os.path.join(root, "Samples/digits-test.npz"), "-o", out, "--json", "--quiet"] + flags
                    results[precision] = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout)
                    with open(out, "rb") as f:
                        outputs[precision] = f.read()
                a, b = results["float64"], results["float32"]
                df = (b["forget_accuracy_after"] - a["forget_accuracy_after"]) * 100
                dr = (b["retain_accuracy_after"] - a["retain_accuracy_after"]) * 100
                alphas = f"{a['alpha_retain']:g}, {a['alpha_forget']:g} → {b['alpha_retain']:g}, {b['alpha_forget']:g}"
                print(f"| {name} | {classes} | {' '.join(flags) or 'default'} | {a['forget_accuracy_after'] * 100:.2f}% → {b['forget_accuracy_after'] * 100:.2f}% | "
                      f"{a['retain_accuracy_after'] * 100:.2f}% → {b['retain_accuracy_after'] * 100:.2f}% | {df:+.2f}, {dr:+.2f} | {alphas} | "
                      f"{'yes' if outputs['float64'] == outputs['float32'] else 'no'} | "
                      f"{largest_relative_difference(outputs['float64'], outputs['float32']):.1e} |", flush=True)


if __name__ == "__main__":
    main()
