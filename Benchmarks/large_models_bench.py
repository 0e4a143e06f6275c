#!/usr/bin/env python3
"""ImageNet-size models from safetensors alone (issue 16): torchvision ResNet-50 and ViT-B/16 at
224×224, made by Benchmarks/real_models/make_real_models.py (`--tier large`, random init: the
arithmetic, and so the time, is that of trained weights).

For each model folder given:
  - forward throughput, images/s, side by side in one run:
      modelforget: `modelforget eval MODEL --data D` on 32 and on 96 random images, its default
        batch size; the throughput is 64 / (t96 − t32), so loading the model and the data does
        not count;
      PyTorch: the torchvision model with the same weights, eval mode, torch.inference_mode,
        batches of 32 after one warm-up batch, torch.set_num_threads(--threads);
      onnxruntime: the folder's model.onnx (same weights, torch's default exporter), CPU provider,
        ORT_ENABLE_ALL, intra_op_num_threads = --threads, the same batches;
      --rounds rounds (default 3), the two sides alternating; the medians are compared;
  - `modelforget apply MODEL --classes 5,7` with 900 retain + 900 forget random images (labels: the
    first 900 alternate 5 and 7, the rest cycle through 0–9 without them), whole process: wall time
    and peak RSS (GNU time), and the phase timings from the audit record.
Both sides use --threads threads (modelforget runs OpenBLAS on one thread and parallelises over
its own workers; OPENBLAS_NUM_THREADS is set to 1 for it, and OPENBLAS_CORETYPE is left as the
machine sets it).

Usage: /work/venv/bin/python Benchmarks/large_models_bench.py /work/models/large/torchvision-resnet50 \
           /work/models/large/torchvision-vit-b-16 [--binary .build/release/modelforget] [--skip-apply]
"""
import argparse, json, os, statistics, subprocess, sys, time
import numpy as np

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def random_images(path, labels, seed):
    if os.path.exists(path):
        return path
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((len(labels), 3, 224, 224), dtype=np.float32)
    np.savez(path, x=x, y=np.asarray(labels, dtype=np.int64))
    return path


def run(command):
    """Wall seconds and peak RSS (bytes, from GNU time's %M) of a child process."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    start = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-f", "%M"] + command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed: {done.stderr.strip()}")
    peak = int(done.stderr.strip().splitlines()[-1]) * 1024
    return seconds, peak, done.stdout


def torch_model(folder):
    import torch, torchvision
    from safetensors.torch import load_file
    state = load_file(os.path.join(folder, "model.safetensors"))
    name = os.path.basename(folder.rstrip("/"))
    model = torchvision.models.resnet50() if "resnet50" in name else torchvision.models.vit_b_16()
    model.load_state_dict(state, strict=False)
    return model.eval()


def torch_throughput(folder, threads, images=96, batch=32):
    import torch
    torch.set_num_threads(threads)
    model = torch_model(folder)
    x = torch.randn(batch, 3, 224, 224)
    with torch.inference_mode():
        model(x)   # warm-up
        start = time.perf_counter()
        for _ in range(images // batch):
            model(x)
        return images / (time.perf_counter() - start)


def ort_throughput(folder, threads, images=96, batch=32):
    """onnxruntime on the folder's model.onnx (torch's default exporter), CPU provider, all graph
    optimizations, intra-op threads = threads; None without onnxruntime or model.onnx."""
    path = os.path.join(folder, "model.onnx")
    try:
        import onnxruntime
    except ImportError:
        return None
    if not os.path.exists(path):
        return None
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    x = np.random.default_rng(0).standard_normal((batch, 3, 224, 224), dtype=np.float32)
    session.run(None, {name: x})   # warm-up
    start = time.perf_counter()
    for _ in range(images // batch):
        session.run(None, {name: x})
    return images / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("models", nargs="+")
    parser.add_argument("--binary", default=os.path.join(root, ".build/release/modelforget"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workdir", default="/tmp/mf-large")
    parser.add_argument("--skip-apply", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    small = random_images(os.path.join(args.workdir, "eval-32.npz"), [i % 10 for i in range(32)], 1)
    large = random_images(os.path.join(args.workdir, "eval-96.npz"), [i % 10 for i in range(96)], 2)
    labels = [5 if i % 2 == 0 else 7 for i in range(900)] + [[0, 1, 2, 3, 4, 6, 8, 9][i % 8] for i in range(900)]
    data = None if args.skip_apply else random_images(os.path.join(args.workdir, "apply-1800.npz"), labels, 3)
    print(f"machine: {os.cpu_count()} cores; threads {args.threads}; {time.strftime('%Y-%m-%d')}")
    for folder in args.models:
        name = os.path.basename(folder.rstrip("/"))
        ours, theirs, ort = [], [], []
        for _ in range(args.rounds):   # alternating, so that a change in the machine's load hits every side
            t32, _, _ = run([args.binary, "eval", folder, "--data", small, "--quiet"])
            t96, _, _ = run([args.binary, "eval", folder, "--data", large, "--quiet"])
            ours.append(64 / max(t96 - t32, 1e-9))
            theirs.append(torch_throughput(folder, args.threads))
            rate = ort_throughput(folder, args.threads)
            if rate is not None:
                ort.append(rate)
        a, b = statistics.median(ours), statistics.median(theirs)
        c = statistics.median(ort) if ort else None
        versus_ort = f", onnxruntime {c:.2f} (ratio {a / c:.2f})" if c else ""
        print(f"{name}: forward images/s (median of {args.rounds}): modelforget {a:.2f}, PyTorch {b:.2f} (ratio {a / b:.2f}){versus_ort}; "
              f"rounds: {' '.join(f'{x:.2f}' for x in ours)} / {' '.join(f'{x:.2f}' for x in theirs)} / {' '.join(f'{x:.2f}' for x in ort)}",
              flush=True)
        if data:
            output = os.path.join(args.workdir, f"{name}.forget-5-7.safetensors")
            report = os.path.join(args.workdir, f"{name}.audit.json")
            seconds, peak, _ = run([args.binary, "apply", os.path.join(folder, "model.safetensors"), "--method", "svd", "--classes", "5,7", "--data", data,
                                    "--retain-samples", "900", "--forget-samples", "900", "--method", "svd", "-o", output, "--report", report, "--quiet"])
            with open(report) as f:
                phases = json.load(f).get("timings_seconds", {})
            shown = ", ".join(f"{k} {v:.1f}" for k, v in sorted(phases.items()))
            print(f"{name}: apply 5,7 (900 + 900): {seconds:.1f} s wall, peak RSS {peak / 2**30:.2f} GiB; phases: {shown}", flush=True)


if __name__ == "__main__":
    main()
