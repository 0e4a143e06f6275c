#!/usr/bin/env python3
"""Container benchmarks for modelforget, side by side with Python safetensors/NumPy and cp.

Measures, for safetensors checkpoints of several sizes (float32 tensors of 4 MiB each, random):
  - inspect: `modelforget inspect` vs `safetensors.safe_open(...).keys()` (both read the header only);
  - copy:    `modelforget convert A B` vs `cp` vs safetensors `load_file` + `save_file`;
  - F16:     `modelforget convert A B --dtype F16` vs NumPy `astype(float16)` + `save_file`;
  - npz:     `modelforget convert A B.npz` vs `numpy.savez`.
Reports the median wall time of N runs and the peak resident memory (ru_maxrss of the child).
Usage: python3 Benchmarks/formats_bench.py [--sizes-mib 64,1024] [--runs 3] [--binary .build-rel/release/modelforget]
"""
import argparse, os, platform, shutil, statistics, subprocess, sys, tempfile, time
import numpy as np


def run(cmd):
    """Wall time and peak RSS (MiB, from GNU time, so the benchmark's own memory is not counted)."""
    start = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}: {proc.stderr.decode()}")
    return elapsed, int(proc.stderr.decode().strip().splitlines()[-1]) / 1024


def measure(cmd, runs, prepare=None):
    times, peaks = [], []
    for _ in range(runs):
        if prepare:
            prepare()
        t, m = run(cmd)
        times.append(t)
        peaks.append(m)
    return statistics.median(times), max(peaks)


def make_checkpoint(path, mib):
    from safetensors.numpy import save_file
    rng = np.random.default_rng(0)
    tensors = {f"layers.{i}.weight": rng.standard_normal((1024, 1024), dtype=np.float32) for i in range(mib // 4)}
    save_file(tensors, path, metadata={"format": "pt"})


PY_INSPECT = "import sys; from safetensors import safe_open\nwith safe_open(sys.argv[1], 'np') as f: print(len(list(f.keys())), f.metadata())"
PY_COPY = "import sys; from safetensors.numpy import load_file, save_file; save_file(load_file(sys.argv[1]), sys.argv[2], metadata={'format': 'pt'})"
PY_F16 = ("import sys, numpy as np; from safetensors.numpy import load_file, save_file\n"
          "t = load_file(sys.argv[1]); save_file({k: v.astype(np.float16) for k, v in t.items()}, sys.argv[2])")
PY_NPZ = "import sys, numpy as np; from safetensors.numpy import load_file; np.savez(sys.argv[2], **load_file(sys.argv[1]))"


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--make":
        return make_checkpoint(sys.argv[2], int(sys.argv[3]))
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes-mib", default="64,1024")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--binary", default=".build-rel/release/modelforget")
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    binary = os.path.abspath(args.binary)
    work = args.workdir or tempfile.mkdtemp(prefix="mf-bench-")
    print(f"# machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}; python {platform.python_version()}, numpy {np.__version__}")
    print(f"# OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}; median of {args.runs} runs; peak RSS of the process")
    print("| size | task | tool | median time (s) | peak RSS (MiB) |")
    print("|---|---|---|---|---|")
    for mib in [int(s) for s in args.sizes_mib.split(",")]:
        src = os.path.join(work, f"model-{mib}.safetensors")
        if not os.path.exists(src):
            subprocess.run([sys.executable, __file__, "--make", src, str(mib)], check=True)
        out = os.path.join(work, "out.safetensors")
        out_npz = os.path.join(work, "out.npz")
        rows = [
            ("inspect (header only)", "modelforget inspect", [binary, "inspect", src]),
            ("inspect (header only)", "python safetensors safe_open", [sys.executable, "-c", PY_INSPECT, src]),
            ("copy", "modelforget convert", [binary, "convert", src, out]),
            ("copy", "cp", ["cp", src, out]),
            ("copy", "python safetensors load+save", [sys.executable, "-c", PY_COPY, src, out]),
            ("cast to F16", "modelforget convert --dtype F16", [binary, "convert", src, out, "--dtype", "F16"]),
            ("cast to F16", "numpy astype + safetensors save", [sys.executable, "-c", PY_F16, src, out]),
            ("to npz", "modelforget convert", [binary, "convert", src, out_npz]),
            ("to npz", "numpy savez", [sys.executable, "-c", PY_NPZ, src, out_npz]),
        ]
        for task, tool, cmd in rows:
            t, m = measure(cmd, args.runs)
            print(f"| {mib} MiB | {task} | {tool} | {t:.3f} | {m:.0f} |")
            sys.stdout.flush()
        for path in (out, out_npz):
            if os.path.exists(path):
                os.remove(path)
    if not args.workdir:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
