#!/usr/bin/env python3
"""Is the SVD accuracy target reachable at all? Every α of an extended grid, scored on the TEST data.

The issue's target (forget-class test accuracy ≤ 2 %, retain-class test accuracy at most 2 points
below the original) is asked of `--search`, which must choose α on a validation split of the
training data. This script answers the prior question — does any α reach the target? — by running
`modelforget apply MODEL.onnx --classes C --alpha-retain R --alpha-forget F` for every point of the
spec's grid extended by α_r ∈ {3000, 10000} and α_f ∈ {0.3, 300}, and scoring each on
Samples/digits-test.npz. Choosing by test accuracy is an oracle, never a method: the numbers bound
what any α selection can reach with this method, samples and seed.

Prints, per model and forget set: the best point by the search's own score retain·(1 − forget),
the point with the smallest retain drop among those with forget ≤ 2 %, and whether any point meets
both targets.
Usage: python3 Benchmarks/svd_oracle_grid.py [--binary .build-rel/release/modelforget] [--models mlp,resnet]
"""
import argparse, itertools, json, os, subprocess, tempfile

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RETAIN = [10, 30, 100, 300, 1000, 3000, 10000]
FORGET = [0.3, 1, 3, 10, 30, 100, 300]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=os.path.join(root, ".build-rel/release/modelforget"))
    parser.add_argument("--models", default="mlp,cnn,resnet,vit")
    args = parser.parse_args()
    work = tempfile.mkdtemp()
    print(f"# {len(RETAIN) * len(FORGET)} grid points per case, scored on the test data (an oracle bound, not a method)")
    print("| model | classes | best retain·(1 − forget): α (r, f), forget, retain drop | smallest drop with forget ≤ 2 %: α (r, f), forget, retain drop | target reachable |")
    print("|---|---|---|---|---|")
    for name in args.models.split(","):
        for classes in ("3", "5,7"):
            points = []
            for r, f in itertools.product(RETAIN, FORGET):
                cmd = [args.binary, "apply", os.path.join(root, f"Samples/{name}.onnx"), "--method", "svd", "--classes", classes,
                       "--data", os.path.join(root, "Samples/digits-train.npz"), "--eval-data", os.path.join(root, "Samples/digits-test.npz"),
                       "--alpha-retain", str(r), "--alpha-forget", str(f), "-o", os.path.join(work, f"{name}.onnx"), "--json", "--quiet"]
                s = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
                forget = s["forget_accuracy_after"] * 100
                drop = (s["retain_accuracy_before"] - s["retain_accuracy_after"]) * 100
                points.append((r, f, forget, drop, s["retain_accuracy_after"] * (1 - s["forget_accuracy_after"])))
            best = max(points, key=lambda p: p[4])
            forgotten = [p for p in points if p[2] <= 2]
            smallest = min(forgotten, key=lambda p: p[3]) if forgotten else None
            reachable = any(p[2] <= 2 and p[3] <= 2 for p in points)
            describe = lambda p: f"{p[0]:g}, {p[1]:g}: {p[2]:.2f} %, {p[3]:.2f}" if p else "none"
            print(f"| {name} | {classes} | {describe(best)} | {describe(smallest)} | {'yes' if reachable else 'no'} |", flush=True)


if __name__ == "__main__":
    main()
