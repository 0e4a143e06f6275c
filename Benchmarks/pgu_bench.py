#!/usr/bin/env python3
"""Projected-gradient unlearning (PGU) on the sample models, from statistics only.

For each model and forget set ({3}, {5,7}):
  1. `modelforget stats collect MODEL.onnx --data digits-train.npz` once (as right after training);
  2. a data file holding only the forget classes' training samples (no retain data at unlearning time);
  3. `modelforget apply MODEL.onnx --method pgu --stats S --data FORGET --eval-data digits-test.npz`
     with the settings below: forget and retain test accuracy before/after, epochs kept, time;
  4. the same algorithm in PyTorch on the CPU (eigendecomposition of the same stored Grams, the same
     rank rule, loss, projected SGD, learning-rate schedule, batch size and number of epochs,
     forget accuracy measured after every epoch as modelforget does), timed from the loaded model
     and statistics to the edited weights, against modelforget's algorithm time from its audit
     record (statistics file, retain spaces, training). Both sides use --threads threads.

Usage: /opt/mfvenv/bin/python Benchmarks/pgu_bench.py [--binary .build-rel/release/modelforget]
"""
import argparse, statistics, json, os, subprocess, sys, tempfile, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.numpy import load_file as load_numpy
from safetensors.torch import load_file

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
sys.path.insert(0, here)
import svd_bench  # noqa: E402  (model builders)

SETTINGS = ["--lr-start", "0.3", "--lr-end", "0.06", "--gamma", "0.8"]


def retain_spaces(stats_path, forget, gamma):
    """Per weight name: U_k of Σ_{c ∉ forget} G_c, rank by cumulative √|λ| (docs/methods.md §3.2)."""
    tensors = load_numpy(stats_path)
    with safe_open(stats_path, "np") as f:
        names = {int(k.split(".")[1]): v for k, v in f.metadata().items() if k.startswith("layer.")}
    grams = {}
    for name, packed in tensors.items():
        if not name.endswith(".gram"):
            continue
        _, label, _, layer, _, group, _ = name.split(".")
        if int(label) in forget:
            continue
        d = int((np.sqrt(8 * packed.size + 1) - 1) / 2)
        full = np.zeros((d, d))
        full[np.triu_indices(d)] = packed
        full = full + full.T - np.diag(np.diag(full))
        grams[int(layer)] = grams.get(int(layer), 0) + full
    spaces = {}
    for layer, g in grams.items():
        values, vectors = torch.linalg.eigh(torch.from_numpy(g))
        order = torch.argsort(values.abs(), descending=True)
        roots = values.abs()[order].sqrt()
        k = min(int((torch.cumsum(roots, 0) / roots.sum() <= gamma).sum()) + 1, g.shape[0])
        spaces[names[layer]] = vectors[:, order[:k]]
    return spaces


def torch_pgu(model, x, y, spaces, epochs, lr0, lr1, batch=128, seed=0):
    # Every weight with a retain space: Conv2d/Linear weights and the attention's in_proj_weight
    # (q, k and v share one input space), by the names the statistics file records.
    weights = [(name, p) for name, p in model.named_parameters() if name in spaces]
    assert len(weights) == len(spaces), f"weights without a twin: {sorted(set(spaces) - {n for n, _ in weights})}"
    for p in model.parameters():
        p.requires_grad_(False)
    for _, weight in weights:
        weight.requires_grad_(True)
    generator = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        lr = lr0 * (lr1 / lr0) ** (epoch / max(epochs - 1, 1))
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), batch):
            idx = order[start:start + batch]
            p = F.softmax(model(x[idx]), dim=1)
            py = p[torch.arange(len(idx)), y[idx]]
            loss = (-torch.log(1 + 0.05 - py)).mean() + 0.2 * (p * torch.log(p + 1e-15)).sum(1).mean()
            model.zero_grad()
            loss.backward()
            with torch.no_grad():
                for name, weight in weights:
                    g = weight.grad.reshape(weight.shape[0], -1).double()
                    u = spaces[name]
                    g = g - (g @ u) @ u.T
                    weight -= lr * g.reshape(weight.shape).float()
        with torch.no_grad():
            (model(x).argmax(1) == y).float().mean()
    return model


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=os.path.join(root, ".build-rel/release/modelforget"))
    parser.add_argument("--models", default="mlp,cnn,resnet,vit")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5, help="runs per side; medians are reported")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    work = tempfile.mkdtemp()
    train = np.load(os.path.join(root, "Samples/digits-train.npz"))
    print(f"# settings {' '.join(SETTINGS)}; {args.threads} thread(s) each; torch {torch.__version__}; median of {args.runs} runs per side")
    print("| model | classes | forget acc before → after | retain acc before → after (drop, points) | epochs kept / run | modelforget apply, whole process (s) | modelforget algorithm (s) | PyTorch same algorithm, same epochs (s) |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.models.split(","):
        model_path = os.path.join(root, f"Samples/{name}.onnx")
        stats = os.path.join(work, f"{name}.stats.safetensors")
        subprocess.run([args.binary, "stats", "collect", model_path, "--data", os.path.join(root, "Samples/digits-train.npz"), "-o", stats, "--quiet"], check=True)
        for forget in ([3], [5, 7]):
            keep = np.isin(train["y"], forget)
            data = os.path.join(work, f"forget-{'-'.join(map(str, forget))}.npz")
            np.savez(data, x=train["x"][keep], y=train["y"][keep])
            report = os.path.join(work, "report.json")
            wall, algorithms = [], []
            for _ in range(args.runs):
                start = time.perf_counter()
                subprocess.run([args.binary, "apply", model_path, "--method", "pgu", "--classes", ",".join(map(str, forget)), "--data", data,
                                "--stats", stats, "--eval-data", os.path.join(root, "Samples/digits-test.npz"), "--report", report,
                                "-o", os.path.join(work, "out.onnx"), "--quiet"] + SETTINGS, check=True, stdout=subprocess.DEVNULL)
                wall.append(time.perf_counter() - start)
                r = json.load(open(report))
                algorithms.append(sum(r["timings_seconds"][k] for k in ("select_samples", "collect_statistics", "retain_spaces", "training")))
            ours, algorithm = statistics.median(wall), statistics.median(algorithms)
            before, after = r["evaluation"]["before"], r["evaluation"]["after"]
            run = len(r["epochs"]) - 1
            times = []
            for _ in range(args.runs):
                model = svd_bench.build(name)
                model.load_state_dict(load_file(os.path.join(root, f"Samples/{name}.safetensors")))
                model.eval()
                start = time.perf_counter()
                spaces = retain_spaces(stats, set(forget), float(SETTINGS[5]))
                torch_pgu(model, torch.from_numpy(train["x"][keep]), torch.from_numpy(train["y"][keep]).long(), spaces, run,
                          float(SETTINGS[1]), float(SETTINGS[3]))
                times.append(time.perf_counter() - start)
            theirs = statistics.median(times)
            drop = (before["retain_accuracy"] - after["retain_accuracy"]) * 100
            print(f"| {name} | {','.join(map(str, forget))} | {before['forget_accuracy']:.1%} → {after['forget_accuracy']:.1%} | "
                  f"{before['retain_accuracy']:.1%} → {after['retain_accuracy']:.1%} ({drop:.2f}) | {r['best_epoch']} / {run} | {ours:.2f} | {algorithm:.2f} | {theirs:.2f} |")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
