#!/usr/bin/env python3
"""Forget- and retain-class test accuracy before and after `modelforget apply` (SVD projection).

For every sample model and forget set {3} and {5, 7}: `apply MODEL.onnx --classes C --data
Samples/digits-train.npz --eval-data Samples/digits-test.npz` with --search (α chosen on a validation
split of the training data) and with the default α (100, 3). Prints a Markdown table.
Usage: python3 Benchmarks/svd_accuracy.py [--binary .build-rel/release/modelforget]
"""
import argparse, json, os, subprocess, tempfile

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=os.path.join(root, ".build-rel/release/modelforget"))
    parser.add_argument("--models", default="mlp,cnn,resnet,vit")
    args = parser.parse_args()
    work = tempfile.mkdtemp()
    print("| model | classes | α (r, f) | forget acc. before → after | retain acc. before → after | retain drop (points) | time (s) |")
    print("|---|---|---|---|---|---|---|")
    for name in args.models.split(","):
        for classes in ("3", "5,7"):
            for search in (True, False):
                out = os.path.join(work, f"{name}.onnx")
                cmd = [args.binary, "apply", os.path.join(root, f"Samples/{name}.onnx"), "--method", "svd", "--classes", classes,
                       "--data", os.path.join(root, "Samples/digits-train.npz"), "--eval-data", os.path.join(root, "Samples/digits-test.npz"),
                       "-o", out, "--json", "--quiet"] + (["--search"] if search else [])
                s = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
                drop = (s["retain_accuracy_before"] - s["retain_accuracy_after"]) * 100
                label = f"{s['alpha_retain']:g}, {s['alpha_forget']:g}" + (" (search)" if search else " (default)")
                print(f"| {name} | {classes} | {label} | {s['forget_accuracy_before'] * 100:.2f}% → {s['forget_accuracy_after'] * 100:.2f}% | "
                      f"{s['retain_accuracy_before'] * 100:.2f}% → {s['retain_accuracy_after'] * 100:.2f}% | {drop:.2f} | {s['seconds']:.2f} |")


if __name__ == "__main__":
    main()
