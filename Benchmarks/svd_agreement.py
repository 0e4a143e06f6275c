#!/usr/bin/env python3
"""SVD projection: modelforget's edited weights against the same algorithm written in PyTorch.

For each sample model and forget set: `modelforget apply` with every training sample (retain: all of
the retained classes, forget: all of the forget classes, so both sides use the same samples),
every patch (--max-patches 0) and the default α (100, 3), writing safetensors; and
`torch_svd_unlearning` from Benchmarks/svd_bench.py (forward hooks, F.unfold patches, float64
Grams, torch.linalg.eigh, W ← W Pᵀ) on the same samples. Prints the largest difference of any
edited weight relative to that weight's largest magnitude, and the test accuracies of both edited
models: the two implementations must agree, so a target the method misses is the method's, not
the implementation's.

Usage: /opt/mfvenv/bin/python Benchmarks/svd_agreement.py [--binary .build-rel/release/modelforget] [--models mlp,cnn]
"""
import argparse, os, subprocess, sys, tempfile
import numpy as np
import torch
from safetensors.torch import load_file

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
sys.path.insert(0, here)
import svd_bench  # noqa: E402  (the PyTorch implementation and the model classes)


def accuracies(model, x, y, forget):
    with torch.no_grad():
        predicted = model(torch.from_numpy(x)).argmax(1).numpy()
    f = np.isin(y, forget)
    return (predicted[f] == y[f]).mean() * 100, (predicted[~f] == y[~f]).mean() * 100


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=os.path.join(root, ".build-rel/release/modelforget"))
    parser.add_argument("--models", default="mlp,cnn,resnet,vit")
    args = parser.parse_args()
    torch.set_num_threads(2)
    train, test = np.load(os.path.join(root, "Samples/digits-train.npz")), np.load(os.path.join(root, "Samples/digits-test.npz"))
    x, y = train["x"], train["y"]
    print("| model | classes | largest weight difference (relative) | modelforget: forget, retain test acc. | PyTorch: forget, retain test acc. |")
    print("|---|---|---|---|---|")
    for name in args.models.split(","):
        for forget in ([3], [5, 7]):
            out = os.path.join(tempfile.mkdtemp(), "out.onnx" if name == "vit" else "out.safetensors")
            subprocess.run([args.binary, "apply", os.path.join(root, f"Samples/{name}.onnx" if name == "vit" else f"Samples/{name}.safetensors"),
                            "--method", "svd", "--classes", ",".join(map(str, forget)), "--data", os.path.join(root, "Samples/digits-train.npz"),
                            "--retain-samples", "100000", "--forget-samples", "100000", "--max-patches", "0", "-o", out, "--quiet"],
                           check=True, stdout=subprocess.DEVNULL)
            model = svd_bench.with_hookable_attention(svd_bench.build(name))
            model.load_state_dict(load_file(os.path.join(root, f"Samples/{name}.safetensors")))
            model.eval()
            original = {k: v.clone() for k, v in model.state_dict().items()}
            keep = ~np.isin(y, forget)
            svd_bench.torch_svd_unlearning(model, torch.from_numpy(x[keep]), torch.from_numpy(x[~keep]))
            theirs = model.state_dict()
            if name == "vit":
                # An ONNX model comes back as ONNX: read its initializers by the state-dict names.
                import onnx
                from onnx import numpy_helper
                ours = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in onnx.load(out).graph.initializer}
            else:
                ours = load_file(out)
            worst = 0.0
            for key, value in theirs.items():
                if not torch.equal(value, original[key]):   # an edited weight
                    worst = max(worst, float((value - ours[key]).abs().max() / value.abs().max()))
            edited = svd_bench.build(name)
            edited.load_state_dict({k: ours.get(k, v) for k, v in original.items()})
            edited.eval()
            mf, pt = accuracies(edited, test["x"], test["y"], forget), accuracies(model, test["x"], test["y"], forget)
            print(f"| {name} | {','.join(map(str, forget))} | {worst:.1e} | {mf[0]:.2f}%, {mf[1]:.2f}% | {pt[0]:.2f}%, {pt[1]:.2f}% |")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
