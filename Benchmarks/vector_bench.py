#!/usr/bin/env python3
"""Forget vectors on the sample CNN, ResNet and ViT: class-wise vectors for {3}, {5}, {7} and {5,7}
combined from the class-wise {5} and {7} vectors with fixed weights (1, 1) and with coefficients
learned by `vector combine --fit --classes 5,7` (same data, same loss settings).

`modelforget vector make MODEL.onnx --classes C --data Samples/digits-train.npz` (defaults: β 3,
τ 1, λ 1, lr 0.2, 60 epochs at most, the stated epoch rule), then `modelforget eval MODEL.onnx --data
Samples/digits-test.npz --classes C --vector FV` — the vector added to every test input — against
the same evaluation without it. Prints a Markdown table.
Usage: python3 Benchmarks/vector_bench.py [--binary .build-rel/release/modelforget] [--beta 3] [--lr 0.2] [--max-retain-drop 5] [--target-forget-accuracy 0.1]
"""
import argparse, json, os, subprocess, tempfile, time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=os.path.join(root, ".build-rel/release/modelforget"))
    parser.add_argument("--models", default="cnn,resnet,vit")
    parser.add_argument("--beta", default="3")
    parser.add_argument("--lr", default="0.2")
    parser.add_argument("--max-retain-drop", default="5")
    parser.add_argument("--target-forget-accuracy", default="0.1")
    args = parser.parse_args()
    work = tempfile.mkdtemp()
    train, test = os.path.join(root, "Samples/digits-train.npz"), os.path.join(root, "Samples/digits-test.npz")

    def evaluate(model, classes, vector=None):
        cmd = [args.binary, "eval", model, "--data", test, "--classes", classes, "--json"] + (["--vector", vector] if vector else [])
        return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)

    print(f"# β {args.beta}, lr {args.lr}, --max-retain-drop {args.max_retain_drop}, --target-forget-accuracy {args.target_forget_accuracy} (both on the selection samples)")
    print("| model | classes | vector | epoch (rule met?) | ‖δ‖₂ | forget acc. before → after | retain acc. before → after | retain drop (points) | make time (s) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.models.split(","):
        model = os.path.join(root, f"Samples/{name}.onnx")
        for classes, fit in (("3", False), ("5", False), ("7", False), ("5,7", False), ("5,7", True)):
            path = os.path.join(work, f"{name}-{classes.replace(',', '-')}{'-fit' if fit else ''}.safetensors")
            if fit:
                start = time.perf_counter()
                subprocess.run([args.binary, "vector", "combine", os.path.join(work, f"{name}-5.safetensors"), os.path.join(work, f"{name}-7.safetensors"),
                                "--fit", "--model", model, "--classes", classes, "--data", train, "--beta", args.beta, "--lr", args.lr, "--max-retain-drop", args.max_retain_drop, "--target-forget-accuracy", args.target_forget_accuracy, "--quiet", "-o", path],
                               check=True, capture_output=True)
                seconds = time.perf_counter() - start
                from safetensors import safe_open
                meta = safe_open(path, "np").metadata()
                w = [float(v) for v in meta["coefficients"].split(",")]
                kind = f"--fit: {w[0]:.2f}·δ5 + {w[1]:.2f}·δ7"
                epoch = f"{meta['setting.selected_epoch']} ({'yes' if meta['setting.selection_rule'].startswith('first') else 'no'})"
            elif classes == "5,7":
                subprocess.run([args.binary, "vector", "combine", os.path.join(work, f"{name}-5.safetensors"), os.path.join(work, f"{name}-7.safetensors"),
                                "--weights", "1,1", "-o", path], check=True, capture_output=True)
                kind, epoch, seconds = "combined 1·δ5 + 1·δ7", "—", 0.0
            else:
                start = time.perf_counter()
                subprocess.run([args.binary, "vector", "make", model, "--classes", classes, "--data", train, "--beta", args.beta, "--lr", args.lr, "--max-retain-drop", args.max_retain_drop, "--target-forget-accuracy", args.target_forget_accuracy, "-o", path, "--quiet"],
                               check=True, capture_output=True)
                seconds = time.perf_counter() - start
                from safetensors import safe_open
                meta = safe_open(path, "np").metadata()
                kind = "class-wise"
                epoch = f"{meta['setting.selected_epoch']} ({'yes' if meta['setting.selection_rule'].startswith('first') else 'no'})"
            from safetensors.numpy import load_file
            import numpy as np
            norm = float(np.linalg.norm(load_file(path)["delta"]))
            before, after = evaluate(model, classes), evaluate(model, classes, path)
            drop = (before["retain_accuracy"] - after["retain_accuracy"]) * 100
            print(f"| {name} | {classes} | {kind} | {epoch} | {norm:.2f} | {before['forget_accuracy']:.2%} → {after['forget_accuracy']:.2%} | "
                  f"{before['retain_accuracy']:.2%} → {after['retain_accuracy']:.2%} | {drop:.2f} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
