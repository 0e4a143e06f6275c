#!/usr/bin/env python3
"""Training-step throughput (samples/s): forward and backward to every weight's gradient of the mean
cross-entropy, the pass modelforget's retain repair, PGU and forget vectors train with, against
PyTorch on the CPU, side by side in one run.

The models are the trained real-library models of Benchmarks/real_models (make_real_models.py
--tier trained; MODELS_DIR/NAME/model.onnx and model.safetensors). Each side runs the same work:
--samples seeded random inputs of the model's input shape with random labels, in batches of
--batch, one warm-up pass, then one timed pass per round; the rounds rotate over the sides so that
load from other processes falls on both alike.
  - modelforget: Benchmarks/Forward (`forward-bench MODEL --backward --batch B --samples N --runs 1`,
    the model loaded once per round and not timed) on model.onnx: the batch's two halves on its
    two workers, OpenBLAS on one thread each (OPENBLAS_NUM_THREADS as set by the caller);
  - PyTorch: the library's own module (make_real_models.trained_specs) with the checkpoint's weights,
    eval mode (BatchNorm with its running statistics and no dropout, as modelforget's passes run),
    torch.set_num_threads(--threads), `loss.backward()` with the gradients zeroed per batch.
Prints one Markdown table: median samples/s of the rounds, every round, and PyTorch over modelforget.

Usage: OPENBLAS_NUM_THREADS=1 /work/venv/bin/python Benchmarks/train_step_bench.py [--models-dir /work/models/trained]
       [--models timm-convnext-atto,torchvision-vit] [--bin .build/release] [--rounds 5] [--batch 64] [--samples 256]
"""
import argparse, json, os, platform, statistics, subprocess, sys, time

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
sys.path.insert(0, os.path.join(here, "real_models"))


def torch_side(name, folder, batch, samples, threads):
    """A function running one timed pass of PyTorch training steps, and the model's input shape."""
    import torch
    import torch.nn.functional as F
    import make_real_models as mrm
    torch.set_num_threads(threads)
    spec = next(s for s in mrm.trained_specs() if s.name == name)
    model = spec.build()
    if spec.library == "transformers":
        model = type(model).from_pretrained(folder)
    else:   # torchvision, torch and timm checkpoints hold the module's own state dict
        from safetensors.torch import load_file
        model.load_state_dict(load_file(os.path.join(folder, "model.safetensors")))
    model.eval()
    generator = torch.Generator().manual_seed(0)
    x = torch.rand([samples] + spec.input_shape, generator=generator) * 2 - 1
    y = torch.randint(0, mrm.NUM_CLASSES, (samples,), generator=generator)

    def run():
        for start in range(0, samples, batch):
            model.zero_grad(set_to_none=True)
            xb, yb = x[start:start + batch], y[start:start + batch]
            out = model(xb, return_dict=False) if spec.library == "transformers" else model(xb)
            F.cross_entropy(mrm.hf_logits(out), yb).backward()

    run()   # warm-up
    return run, spec.input_shape


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models-dir", default="/work/models/trained")
    parser.add_argument("--models", default="torch-conv1d-mnist1d,torchvision-vit,torchvision-mobilenet-v3-small,timm-convnext-atto")
    parser.add_argument("--bin", default=os.path.join(root, ".build", "release"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    rows = []
    for name in args.models.split(","):
        folder = os.path.join(args.models_dir, name)
        run, shape = torch_side(name, folder, args.batch, args.samples, args.threads)
        ours, theirs = [], []
        for _ in range(args.rounds):
            out = subprocess.run([os.path.join(args.bin, "forward-bench"), os.path.join(folder, "model.onnx"), "--backward",
                                  "--batch", str(args.batch), "--samples", str(args.samples), "--runs", "1",
                                  "--shape", ",".join(map(str, shape))], check=True, capture_output=True, text=True)
            result = json.loads(out.stdout)
            ours.append(result["median"])
            start = time.perf_counter()
            run()
            theirs.append(args.samples / (time.perf_counter() - start))
        rows.append((name, ours, theirs, result["corename"]))
    import torch
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, OpenBLAS core {rows[0][3]}, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, torch {torch.__version__} "
          f"({args.threads} threads), batch {args.batch}, {args.samples} samples, {args.rounds} rounds\n")
    print("| model | modelforget samples/s (median) | PyTorch samples/s (median) | PyTorch / modelforget | rounds, modelforget | rounds, PyTorch |")
    print("|---|---:|---:|---:|---|---|")
    for name, ours, theirs, _ in rows:
        a, b = statistics.median(ours), statistics.median(theirs)
        print(f"| {name} | {a:.0f} | {b:.0f} | {b / a:.2f} | {' '.join(f'{v:.0f}' for v in ours)} | {' '.join(f'{v:.0f}' for v in theirs)} |")


if __name__ == "__main__":
    main()
