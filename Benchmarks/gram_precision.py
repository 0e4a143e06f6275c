#!/usr/bin/env python3
"""Float32-block Grams (the default) against the float64 path, on the sample models.

For each sample model and forget set: `modelforget apply Samples/M.onnx --classes C --data
Samples/digits-train.npz --eval-data Samples/digits-test.npz` with default flags (and with
--search), once as is and once with MODELFORGET_GRAM_PRECISION=float64; prints the forget and
retain test accuracies after the edit of both, their difference in points, and whether the two
output models are byte-identical.
Usage: python3 Benchmarks/gram_precision.py [--binary .build-rel/release/modelforget] [--models resnet,cnn,mlp,vit]
"""
import argparse, json, os, subprocess, tempfile

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=os.path.join(root, ".build-rel/release/modelforget"))
    parser.add_argument("--models", default="resnet,cnn,mlp,vit")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="mf-gram-precision-")
    print("| model | classes | flags | forget acc. after: float64 → float32 blocks | retain acc. after: float64 → float32 blocks | Δ forget, Δ retain (points) | α (r, f) | outputs identical |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.models.split(","):
        for classes in ("5,7", "3"):
            for flags in ([], ["--search"]):
                results, outputs = {}, {}
                for precision in ("float64", "float32"):
                    out = os.path.join(work, f"{name}-{precision}.onnx")
                    env = dict(os.environ, MODELFORGET_GRAM_PRECISION=precision)
                    cmd = [args.binary, "apply", os.path.join(root, f"Samples/{name}.onnx"), "--classes", classes,
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
                      f"{'yes' if outputs['float64'] == outputs['float32'] else 'no'} |")


if __name__ == "__main__":
    main()
