#!/usr/bin/env python3
"""Untouched bytes: copying a 1 GiB safetensors checkpoint, side by side in one run.

Tools, each writing the whole checkpoint to a new file on the same file system:
  - `cp` (coreutils: copy_file_range);
  - Python safetensors `load_file` + `save_file` (the CI-available package);
  - `modelforget convert A B` (same dtype: every tensor unchanged) with in-kernel copies, and with
    them turned off (`MODELFORGET_BUFFERED_COPY=1`: the buffered path the writer falls back to);
  - `edited-write A B` (Benchmarks/EditedWrite): `apply`'s output step alone, the first tensor
    replaced and every other copied unchanged, both ways as above.
The input is read once first (page cache warm for every tool); before each run the previous output
is removed and `sync` called so no tool pays for another's write-back. Median wall time of N runs
(rotating order), the fastest run (less sensitive to other processes' I/O on a shared machine),
and peak resident memory (GNU time %M).
Usage: python3 Benchmarks/copy_bench.py [--mib 1024] [--runs 5] [--bin .build/release] [--workdir DIR]
"""
import argparse, os, platform, statistics, subprocess, sys, tempfile, time


def make_checkpoint(path, mib):
    import numpy as np
    from safetensors.numpy import save_file
    rng = np.random.default_rng(0)
    save_file({f"layers.{i}.weight": rng.standard_normal((1024, 1024), dtype=np.float32) for i in range(mib // 4)},
              path, metadata={"format": "pt"})


PY_COPY = "import sys; from safetensors.numpy import load_file, save_file; save_file(load_file(sys.argv[1]), sys.argv[2], metadata={'format': 'pt'})"


def run(cmd, env):
    start = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}: {proc.stderr.decode()}")
    return elapsed, int(proc.stderr.decode().strip().splitlines()[-1]) / 1024


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--make":
        return make_checkpoint(sys.argv[2], int(sys.argv[3]))
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--bin", default=".build/release")
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    binary = os.path.abspath(os.path.join(args.bin, "modelforget"))
    edited = os.path.abspath(os.path.join(args.bin, "edited-write"))
    work = args.workdir or tempfile.mkdtemp(prefix="mf-copy-bench-", dir="/var/tmp")
    os.makedirs(work, exist_ok=True)
    src = os.path.join(work, f"model-{args.mib}.safetensors")
    if not os.path.exists(src):
        subprocess.run([sys.executable, __file__, "--make", src, str(args.mib)], check=True)
    out = os.path.join(work, "out.safetensors")
    with open(src, "rb") as f:
        while f.read(1 << 24):
            pass
    env = dict(os.environ, OPENBLAS_NUM_THREADS=os.environ.get("OPENBLAS_NUM_THREADS", "1"))
    env.pop("MODELFORGET_BUFFERED_COPY", None)
    buffered = dict(env, MODELFORGET_BUFFERED_COPY="1")
    tools = [
        ("cp", ["cp", src, out], env),
        ("python safetensors load+save", [sys.executable, "-c", PY_COPY, src, out], env),
        ("modelforget convert (copy_file_range)", [binary, "convert", src, out], env),
        ("modelforget convert (buffered, MODELFORGET_BUFFERED_COPY=1)", [binary, "convert", src, out], buffered),
        ("apply output write: edited-write (copy_file_range)", [edited, src, out], env),
        ("apply output write: edited-write (buffered)", [edited, src, out], buffered),
    ]
    times = {name: [] for name, _, _ in tools}
    peaks = {name: 0.0 for name, _, _ in tools}
    for r in range(args.runs):
        for name, cmd, e in tools[r % len(tools):] + tools[:r % len(tools)]:
            if os.path.exists(out):
                os.remove(out)
            os.sync()
            t, m = run(cmd, e)
            times[name].append(t)
            peaks[name] = max(peaks[name], m)
    import safetensors
    print(f"# {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}; file system of {work}: "
          f"{subprocess.run(['stat', '-f', '-c', '%T', work], capture_output=True, text=True).stdout.strip()}; "
          f"python {platform.python_version()}, safetensors {safetensors.__version__}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"# {args.mib} MiB checkpoint ({args.mib // 4} float32 tensors of 4 MiB); median of {args.runs} runs; peak RSS of the process")
    print("| tool | median time (s) | × cp (median) | fastest (s) | × cp (fastest) | runs (s) | peak RSS (MiB) |")
    print("|---|---|---|---|---|---|---|")
    cp, cp_fastest = statistics.median(times["cp"]), min(times["cp"])
    for name, _, _ in tools:
        median, fastest = statistics.median(times[name]), min(times[name])
        print(f"| {name} | {median:.3f} | {median / cp:.2f} | {fastest:.3f} | {fastest / cp_fastest:.2f} | "
              f"{' '.join(f'{t:.2f}' for t in times[name])} | {peaks[name]:.0f} |")


if __name__ == "__main__":
    main()
