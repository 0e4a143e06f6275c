#!/usr/bin/env python3
"""Forward throughput (images/s) of the CIFAR-size ResNet-18 of resnet18_bench.py, side by side in one run.

The model (random weights, seed 0) is made by resnet18_bench.py's `prepare` into --workdir and
exported once to ONNX (torch.onnx.export, the TorchScript exporter, opset 17). Each tool runs the
same work: --samples random images (3×32×32) in batches of --batch, one warm-up pass, then timed
passes; the rounds rotate over the tools so that load from other processes on the machine falls
on all of them alike. Every tool has --threads threads:
  - modelforget: Benchmarks/Forward (`forward-bench MODEL --batch B --samples N --runs 1`, the
    model loaded once per round and not timed), on the safetensors file and on the ONNX export,
    and on the safetensors file with MODELFORGET_CONVOLUTION=im2col (3 × 3 convolutions unfolded
    instead of Winograd F(2×2, 3×3)); it runs OpenBLAS on one thread and its own two workers;
  - PyTorch: the same nn.Module, eval mode, torch.inference_mode, torch.set_num_threads(threads);
  - onnxruntime: the ONNX export, CPU provider, intra_op_num_threads = threads, inter_op 1,
    graph optimizations on (ORT_ENABLE_ALL: it folds BatchNorm into the convolutions).
Prints one Markdown table: median images/s of the rounds, every round, and the ratio to PyTorch.

Usage: OPENBLAS_NUM_THREADS=2 /work/venv/bin/python Benchmarks/forward_bench.py [--bin .build/release] [--rounds 5]
"""
import argparse, json, os, platform, statistics, subprocess, sys, time
import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
sys.path.insert(0, here)


def export_onnx(model_path, onnx_path):
    import torch
    from safetensors.torch import load_file
    import resnet18_bench
    if os.path.exists(onnx_path):
        return
    model = resnet18_bench.build()
    model.load_state_dict(load_file(model_path), strict=False)
    model.eval()
    torch.onnx.export(model, (torch.zeros(1, 3, 32, 32),), onnx_path, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17, dynamo=False)


def batches(x, batch):
    return [x[i:i + batch] for i in range(0, len(x), batch)]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=os.path.join(root, ".build/release"))
    parser.add_argument("--workdir", default="/tmp/mf-resnet18")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    import torch, onnxruntime
    from safetensors.torch import load_file
    import resnet18_bench
    model_path, _ = resnet18_bench.prepare(args.workdir)
    onnx_path = os.path.join(args.workdir, "resnet18.onnx")
    export_onnx(model_path, onnx_path)
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    model = resnet18_bench.build()
    model.load_state_dict(load_file(model_path), strict=False)
    model.eval()
    x = np.random.default_rng(0).uniform(-1, 1, (args.samples, 3, 32, 32)).astype(np.float32)
    torch_batches = [torch.from_numpy(b) for b in batches(x, args.batch)]
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = args.threads, 1
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = onnxruntime.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
    ort_batches = batches(x, args.batch)

    def run_torch():
        with torch.inference_mode():
            for b in torch_batches:
                model(b)

    def run_ort():
        for b in ort_batches:
            session.run(None, {"input": b})

    def timed(fn):
        fn()   # warm-up
        start = time.perf_counter()
        fn()
        return args.samples / (time.perf_counter() - start)

    def forward_bench(path, convolution=None):
        command = [os.path.join(args.bin, "forward-bench"), path, "--batch", str(args.batch), "--samples", str(args.samples), "--runs", "1",
                   "--shape", "3,32,32"]
        environment = dict(os.environ, MODELFORGET_CONVOLUTION=convolution) if convolution else None
        result = json.loads(subprocess.run(command, check=True, capture_output=True, text=True, env=environment).stdout)
        forward_bench.corename = result["corename"]
        return result["median"]

    tools = [
        ("modelforget (forward-bench, safetensors)", lambda: forward_bench(model_path)),
        ("modelforget (forward-bench, ONNX export)", lambda: forward_bench(onnx_path)),
        ("modelforget (forward-bench, safetensors, im2col only)", lambda: forward_bench(model_path, "im2col")),
        (f"PyTorch {torch.__version__} (eval, inference_mode)", lambda: timed(run_torch)),
        (f"onnxruntime {onnxruntime.__version__} (CPU, ORT_ENABLE_ALL)", lambda: timed(run_ort)),
    ]
    rates = {name: [] for name, _ in tools}
    for r in range(args.rounds):
        for name, fn in tools[r % len(tools):] + tools[:r % len(tools)]:
            rates[name].append(fn())
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), platform.processor())
    print(f"# {cpu}, {os.cpu_count()} cores, OpenBLAS core {getattr(forward_bench, 'corename', '?')}; {args.threads} threads each; "
          f"batch {args.batch}, {args.samples} images per pass, {args.rounds} rounds; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print("| tool | median images/s | × PyTorch | rounds (images/s) |")
    print("|---|---|---|---|")
    reference = statistics.median(rates[next(name for name, _ in tools if name.startswith('PyTorch'))])
    for name, _ in tools:
        median = statistics.median(rates[name])
        print(f"| {name} | {median:.0f} | {median / reference:.2f} | {' '.join(f'{v:.0f}' for v in rates[name])} |")


if __name__ == "__main__":
    main()
