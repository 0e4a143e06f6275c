#!/usr/bin/env python3
"""SVD-projection unlearning at a realistic size: a CIFAR-size ResNet-18 (11.2 M parameters,
3×32×32 inputs, 3×3 stem), 900 retain and 900 forget samples, forgetting classes 5 and 7.

Random weights (BatchNorm running statistics at their initial values) and random data: the
arithmetic, and so the time, is that of a trained model. Writes the model and data into --workdir
(seeded, so reruns are identical), then times:
  - modelforget: `modelforget apply resnet18.safetensors --method svd --classes 5,7 --data data.npz
    --report R`, whole process: wall time, CPU time (user + system; on a machine shared with other
    work, CPU time / 2 is what two free cores would take at best), the phase timings from the
    audit record and the peak RSS;
  - with --torch: the method as the reference implementation runs it in PyTorch on the CPU
    (forward hooks, conv patches subsampled to 10 000 per layer and set, torch.linalg.svd of the
    d × n activation matrices, M = U diag(λ) Uᵀ, W ← W Pᵀ), timed from the loaded model to the
    edited weights. Both sides use --threads threads (OPENBLAS_NUM_THREADS for modelforget is
    ignored: it runs OpenBLAS on one thread and parallelises over two workers itself).

With --precisions float32,float64 the apply runs once per value of MODELFORGET_GRAM_PRECISION
(float32-block Grams, the default, and the float64 path), alternating --repeats times, and the two
outputs' largest weight difference is printed.

Usage: /work/venv/bin/python Benchmarks/resnet18_bench.py [--precisions float32,float64] [--repeats 2] [--torch]
           [--workdir /tmp/mf-resnet18] [--binary .build/release/modelforget]
"""
import argparse, json, os, statistics, subprocess, sys, time
import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
sys.path.insert(0, os.path.join(root, "Samples"))


def build():
    import make_samples as samples
    return samples.ResNet(widths=(64, 128, 256, 512), blocks=(2, 2, 2, 2), classes=10, channels=3)


def prepare(workdir):
    import torch
    from safetensors.torch import save_file
    os.makedirs(workdir, exist_ok=True)
    model_path, data_path = os.path.join(workdir, "resnet18.safetensors"), os.path.join(workdir, "data.npz")
    if not os.path.exists(model_path):
        torch.manual_seed(0)
        state = {k: v.contiguous() for k, v in build().state_dict().items() if not k.endswith("num_batches_tracked")}
        save_file(state, model_path)
    if not os.path.exists(data_path):
        rng = np.random.default_rng(0)
        np.savez(data_path, x=rng.standard_normal((2000, 3, 32, 32), dtype=np.float32), y=(np.arange(2000) % 10).astype(np.int64))
    return model_path, data_path


def torch_reference(model_path, data_path, threads, forget=(5, 7), n=900, patches=10_000, alpha_r=100.0, alpha_f=3.0):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from safetensors.torch import load_file
    torch.set_num_threads(threads)
    model = build()
    model.load_state_dict(load_file(model_path), strict=False)
    model.eval()
    data = np.load(data_path)
    x, y = torch.from_numpy(data["x"]), data["y"]
    retain_idx = [i for i in range(len(y)) if y[i] not in forget][:n]
    forget_idx = [i for i in range(len(y)) if y[i] in forget][:n]
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    generator = torch.Generator().manual_seed(0)

    def activations(inputs):
        acts = {}
        def hook(module, args, _out):
            a = args[0].detach()
            if isinstance(module, nn.Conv2d):
                rows = F.unfold(a, module.kernel_size, dilation=module.dilation, padding=module.padding, stride=module.stride)
                rows = rows.transpose(1, 2).reshape(-1, rows.shape[1])
            else:
                rows = a.reshape(-1, a.shape[-1])
            acts.setdefault(module, []).append(rows)
        hooks = [layer.register_forward_hook(hook) for layer in layers]
        with torch.no_grad():
            for start in range(0, len(inputs), 100):
                model(inputs[start:start + 100])
        for h in hooks:
            h.remove()
        out = {}
        for layer, parts in acts.items():
            rows = torch.cat(parts)
            if rows.shape[0] > patches:
                rows = rows[torch.randperm(rows.shape[0], generator=generator)[:patches]]
            out[layer] = rows.T.double()   # d × n, as the reference
        return out

    def space(matrix, alpha):
        u, s, _ = torch.linalg.svd(matrix, full_matrices=False)
        r = s ** 2 / (s ** 2).sum()
        lam = alpha * r / ((alpha - 1) * r + 1)
        return (u * lam) @ u.T

    start = time.perf_counter()
    retain, forget_acts = activations(x[retain_idx]), activations(x[forget_idx])
    statistics = time.perf_counter() - start
    with torch.no_grad():
        for layer in layers:
            m_r, m_f = space(retain[layer], alpha_r), space(forget_acts[layer], alpha_f)
            p = torch.eye(m_r.shape[0], dtype=torch.float64) - (m_f - m_f @ m_r)
            w = layer.weight
            w.copy_((w.reshape(w.shape[0], -1).double() @ p.T).reshape(w.shape).float())
    return statistics, time.perf_counter() - start


def apply(binary, model_path, data_path, workdir, precision):
    """One `modelforget apply --method svd` with MODELFORGET_GRAM_PRECISION=precision ("" for the default):
    wall seconds, peak RSS (MiB), CPU seconds (user + system, GNU time) and the audit record's phase timings."""
    report = os.path.join(workdir, f"audit-{precision or 'default'}.json")
    out = os.path.join(workdir, f"resnet18.forget-5-7.{precision or 'default'}.safetensors")
    env = dict(os.environ)
    env.pop("MODELFORGET_GRAM_PRECISION", None)
    if precision:
        env["MODELFORGET_GRAM_PRECISION"] = precision
    start = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-f", "%M %U %S", binary, "apply", model_path, "--method", "svd", "--classes", "5,7", "--data", data_path,
                           "--report", report, "-o", out, "--quiet"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True)
    whole = time.perf_counter() - start
    peak, user, system = done.stderr.strip().splitlines()[-1].split()
    return whole, int(peak) / 1024, json.load(open(report))["timings_seconds"], out, float(user) + float(system)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=os.path.join(root, ".build/release/modelforget"))
    parser.add_argument("--workdir", default="/tmp/mf-resnet18")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--precisions", default="", help="comma-separated MODELFORGET_GRAM_PRECISION values to time side by side, "
                        "alternating (e.g. float32,float64; empty: the environment's setting)")
    parser.add_argument("--repeats", type=int, default=1, help="runs per precision (alternating)")
    parser.add_argument("--torch", action="store_true", help="also time the PyTorch reference (about 11 minutes)")
    args = parser.parse_args()
    model_path, data_path = prepare(args.workdir)
    precisions = args.precisions.split(",") if args.precisions else [os.environ.get("MODELFORGET_GRAM_PRECISION", "")]
    runs = {p: [] for p in precisions}
    for _ in range(args.repeats):
        for precision in precisions:
            runs[precision].append(apply(args.binary, model_path, data_path, args.workdir, precision))
    for precision in precisions:
        label = f"MODELFORGET_GRAM_PRECISION={precision}" if precision else "default Gram precision"
        print(f"modelforget apply ({label}), whole process: {' '.join(f'{r[0]:.1f}' for r in runs[precision])} s "
              f"(median {statistics.median(r[0] for r in runs[precision]):.1f} s), CPU (user + system) "
              f"{' '.join(f'{r[4]:.1f}' for r in runs[precision])} s, peak RSS {max(r[1] for r in runs[precision]):.0f} MiB")
        timings = runs[precision][-1][2]
        print("  last run: " + ", ".join(f"{phase} {timings.get(phase, 0):.2f} s"
                                        for phase in ("select_samples", "collect_statistics", "update_weights", "write_output", "total")))
    if len(precisions) > 1:
        from safetensors.numpy import load_file
        a, b = (load_file(runs[p][-1][3]) for p in precisions[:2])
        worst = max(float(np.abs(a[k].astype(np.float64) - b[k]).max() / max(np.abs(a[k]).max(), 1e-30)) for k in a if a[k].dtype.kind == "f")
        print(f"largest weight difference between {precisions[0]} and {precisions[1]} outputs (max|ΔW| / max|W| per tensor): {worst:.1e}")
    if args.torch:
        whole = statistics.median(r[0] for r in runs[precisions[0]])
        statistics_seconds, total = torch_reference(model_path, data_path, args.threads)
        print(f"PyTorch reference ({args.threads} threads): {total:.1f} s (activations {statistics_seconds:.1f} s, SVDs and update {total - statistics_seconds:.1f} s)")
        print(f"speed-up: {total / whole:.1f}×")


if __name__ == "__main__":
    main()
