#!/usr/bin/env python3
"""Membership inference after each engine, on the sample CNN and ResNet, forgetting {5, 7}.

For each model: the original; `apply --method svd --search`; `apply --method pgu` from statistics
and forget-class data only (the settings of pgu_bench.py); and the class-wise forget vectors for 5
and 7 combined with `vector combine --fit` (the settings of vector_bench.py). Each is evaluated with
`eval --data Samples/digits-test.npz --train Samples/digits-train.npz --classes 5,7 --mia`:
forget/retain test accuracy and MIA-efficacy in both variants (fraction of forget-class training
samples the attack calls non-members; higher = more forgotten). The time column is the whole
`eval --mia` process (both models' passes over train and test plus the two SVCs).
Usage: python3 Benchmarks/mia_bench.py [--binary .build-rel/release/modelforget]
"""
import argparse, json, os, subprocess, tempfile, time
import numpy as np

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=os.path.join(root, ".build-rel/release/modelforget"))
    args = parser.parse_args()
    work = tempfile.mkdtemp()
    train, test = os.path.join(root, "Samples/digits-train.npz"), os.path.join(root, "Samples/digits-test.npz")
    run = lambda *cmd: subprocess.run([args.binary, *cmd], check=True, capture_output=True, text=True).stdout
    data = np.load(train)
    keep = np.isin(data["y"], [5, 7])
    forget_only = os.path.join(work, "forget-5-7.npz")
    np.savez(forget_only, x=data["x"][keep], y=data["y"][keep])

    print("| model | engine | forget acc. | retain acc. | MIA confidence-svc | MIA entropy-svc | eval --mia (s) |")
    print("|---|---|---|---|---|---|---|")
    for name in ("cnn", "resnet"):
        model = os.path.join(root, f"Samples/{name}.onnx")
        svd, pgu = os.path.join(work, f"{name}-svd.onnx"), os.path.join(work, f"{name}-pgu.onnx")
        run("apply", model, "--classes", "5,7", "--data", train, "--search", "-o", svd, "--quiet")
        stats = os.path.join(work, f"{name}.stats.safetensors")
        run("stats", "collect", model, "--data", train, "-o", stats, "--quiet")
        run("apply", model, "--method", "pgu", "--classes", "5,7", "--data", forget_only, "--stats", stats,
            "--lr-start", "0.3", "--lr-end", "0.06", "--gamma", "0.8", "-o", pgu, "--quiet")
        vectors = []
        for c in ("5", "7"):
            path = os.path.join(work, f"{name}-fv{c}.safetensors")
            run("vector", "make", model, "--classes", c, "--data", train, "--beta", "1", "--lr", "0.05", "--max-retain-drop", "3",
                "--target-forget-accuracy", "0.05", "-o", path, "--quiet")
            vectors.append(path)
        fit = os.path.join(work, f"{name}-fv57.safetensors")
        run("vector", "combine", *vectors, "--fit", "--model", model, "--classes", "5,7", "--data", train, "--beta", "1", "--lr", "0.05",
            "--max-retain-drop", "3", "--target-forget-accuracy", "0.05", "-o", fit, "--quiet")
        for engine, path, extra in (("original", model, []), ("svd --search", svd, []), ("pgu (statistics only)", pgu, []),
                                    ("forget vector, combine --fit", model, ["--vector", fit])):
            start = time.perf_counter()
            report = json.loads(run("eval", path, "--data", test, "--train", train, "--classes", "5,7", "--mia", "--json", *extra))
            seconds = time.perf_counter() - start
            mia = {m["variant"]: m["value"] for m in report["mia"]}
            print(f"| {name} | {engine} | {report['forget_accuracy']:.2%} | {report['retain_accuracy']:.2%} | "
                  f"{mia['confidence-svc']:.2%} | {mia['entropy-svc']:.2%} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
