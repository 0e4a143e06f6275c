#!/usr/bin/env python3
"""Linear-probe recovery after unlearning against a model retrained without the classes (issue 19).

For each sample model (Samples/make_samples.py's architectures, epochs and learning rates) and each
class set: retrains the model from scratch on the sample training data with the forget classes left
out (same seed, same recipe; dev-time, needs PyTorch), exports it to ONNX, and runs
`modelforget eval MODEL --data Samples/digits-test.npz --classes C --probe --json` on
  - the original sample model,
  - the sample unlearned by `modelforget apply` with default flags (`--method auto`; with `--keep-best`,
    so that a model missing the contract on validation is still scored),
  - the retrained model (the gold standard of unlearning: it never saw the classes).
The probe (multinomial logistic regression on the last layer's input, 20 samples per class, seed 0)
reports the forget classes' accuracy on held-out test samples: how much of the classes a linear
read-out of the penultimate features still recovers. The issue's target: the unlearned model's
probe accuracy within 10 points of the retrained model's.

With --real DIR, the same for the trained real-library models of Benchmarks/real_models (folders of
`make_real_models.py --tier trained`): each is retrained by that script (`--without C`, same recipe
and seed) and scored on its own test.npz; --models then names folders of DIR.

Usage: /work/venv/bin/python Benchmarks/probe_vs_retrained.py [--models mlp,cnn,resnet,vit] [--classes 5,7 3]
           [--binary .build/release/modelforget] [--workdir /tmp/mf-retrained]
       /work/venv/bin/python Benchmarks/probe_vs_retrained.py --real /work/models/trained [--models NAME,...]
"""
import argparse, json, os, subprocess, sys
import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
sys.path.insert(0, os.path.join(root, "Samples"))


def recipes():
    import torch.nn as nn
    import make_samples as s
    return {
        "mlp": (lambda: nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10)), 60, 1e-3),
        "cnn": (s.CNN, 40, 2e-3),
        "resnet": (s.ResNet, 30, 2e-3),
        "vit": (s.ViT, 120, 1e-3),
    }


def retrain(name, classes, path):
    """Trains `name` with make_samples' recipe on the training split without `classes`; writes ONNX."""
    import torch
    import make_samples as s
    make, epochs, lr = recipes()[name]
    train = np.load(os.path.join(root, "Samples/digits-train.npz"))
    keep = ~np.isin(train["y"], classes)
    s.seed_all(s.SEED)
    model = s.train(name, make(), train["x"][keep], train["y"][keep], epochs, lr)
    torch.onnx.export(model, torch.from_numpy(train["x"][:2]), path, dynamo=False, opset_version=17, input_names=["x"],
                      output_names=["logits"], dynamic_axes={"x": {0: "N"}, "logits": {0: "N"}})


REAL_MODELS = "torch-conv1d-mnist1d,torchvision-vit,transformers-vit,torchvision-mobilenet-v3-small,transformers-resnet-bottleneck," \
              "timm-convnext-atto"


def retrain_real(name, classes, workdir):
    """Retrains the trained-tier model `name` without `classes` with make_real_models.py; returns its model.onnx."""
    tag = "-".join(map(str, classes))
    folder = os.path.join(workdir, "trained", f"{name}-without-{tag}")
    if not os.path.exists(os.path.join(folder, "model.onnx")):
        subprocess.run([sys.executable, os.path.join(here, "real_models/make_real_models.py"), "--tier", "trained", "--only", name,
                        "--without", ",".join(map(str, classes)), "--out", workdir], check=True, stdout=subprocess.DEVNULL)
    return os.path.join(folder, "model.onnx")


def probe(binary, model, classes, test=os.path.join(root, "Samples/digits-test.npz")):
    out = subprocess.run([binary, "eval", model, "--data", test, "--classes",
                          ",".join(map(str, classes)), "--probe", "--json"], capture_output=True, text=True, check=True)
    report = json.loads(out.stdout)
    return report["forget_accuracy"], report["probe"]["forget_accuracy"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="mlp,cnn,resnet,vit")
    parser.add_argument("--classes", nargs="+", default=["5,7", "3"])
    parser.add_argument("--binary", default=os.path.join(root, ".build/release/modelforget"))
    parser.add_argument("--workdir", default="/tmp/mf-retrained")
    parser.add_argument("--real", default="", help="folder of make_real_models.py --tier trained (the real-library models)")
    args = parser.parse_args()
    if args.real and args.models == "mlp,cnn,resnet,vit":
        args.models = REAL_MODELS
    os.makedirs(args.workdir, exist_ok=True)
    print("| model | classes | model forget acc.: original / unlearned / retrained | probe forget acc.: original / unlearned / retrained "
          "| unlearned − retrained (points) | within 10 |")
    print("|---|---|---|---|---:|---|")
    for name in args.models.split(","):
        for spec in args.classes:
            classes = [int(c) for c in spec.split(",")]
            tag = f"{name}-without-{'-'.join(map(str, classes))}"
            unlearned = os.path.join(args.workdir, f"{tag}.unlearned.onnx")
            if args.real:
                retrained = retrain_real(name, classes, args.workdir)
                sample, train, test = (os.path.join(args.real, name, f) for f in ("model.onnx", "train.npz", "test.npz"))
            else:
                retrained = os.path.join(args.workdir, f"{tag}.onnx")
                if not os.path.exists(retrained):
                    retrain(name, classes, retrained)
                sample, train, test = (os.path.join(root, f) for f in (f"Samples/{name}.onnx", "Samples/digits-train.npz", "Samples/digits-test.npz"))
            subprocess.run([args.binary, "apply", sample, "--classes", spec, "--data", train, "-o", unlearned, "--keep-best", "--quiet"], check=True, capture_output=True)
            (mo, po), (mu, pu), (mr, pr) = (probe(args.binary, m, classes, test) for m in (sample, unlearned, retrained))
            gap = (pu - pr) * 100
            print(f"| {name} | {spec} | {mo * 100:.2f} / {mu * 100:.2f} / {mr * 100:.2f} | {po * 100:.2f} / {pu * 100:.2f} / {pr * 100:.2f} "
                  f"| {gap:+.2f} | {'yes' if abs(gap) <= 10 else 'no'} |", flush=True)


if __name__ == "__main__":
    main()
