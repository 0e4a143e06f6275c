#!/usr/bin/env python3
"""`modelforget diff` on two ~1 GiB checkpoints, side by side with NumPy computing the same per-tensor
statistics (changed elements, ‖Δ‖_F, ‖Δ‖/‖A‖, max |Δ|, cosine, and for matrices the singular values
and numerical rank of Δ), in one run, with peak memory (GNU time's maximum resident set size).

The checkpoints (1 GiB each, F32): a 32000 × 2048 embedding and 6 blocks of a tall 8192 × 2048 and a
wide 2048 × 8192 matrix plus biases; in B the embedding and 6 of the 12 matrices get a rank-4 edit,
everything else is unchanged (one large tensor, both orientations of Δ, many untouched tensors).
NumPy is given its natural best: safetensors.safe_open (memory-mapped) tensor by tensor, float64
arithmetic like modelforget, and np.linalg.svd(compute_uv=False) only for changed matrices; both
use OpenBLAS with OPENBLAS_NUM_THREADS=2 (modelforget runs its own two workers over single-threaded
OpenBLAS).
Usage: python3 Benchmarks/diff_bench.py [--binary .build-rel/release/modelforget] [--keep]
"""
import argparse, json, os, subprocess, sys, tempfile, time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

NUMPY_DIFF = r'''
import sys, numpy as np
from safetensors import safe_open
a, b = safe_open(sys.argv[1], "np"), safe_open(sys.argv[2], "np")
rows = []
for name in a.keys():
    x, y = a.get_tensor(name), b.get_tensor(name)
    if x.tobytes() == y.tobytes():
        rows.append((name, "same")); continue
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    d = y64 - x64
    na, nb, nd = np.linalg.norm(x64), np.linalg.norm(y64), np.linalg.norm(d)
    row = [name, "changed", int(np.count_nonzero(x != y)), nd, nd / na, float(np.abs(d).max()), float((x64 * y64).sum() / (na * nb))]
    if d.ndim >= 2:
        s = np.linalg.svd(d.reshape(d.shape[0], -1), compute_uv=False)
        row += [int((s > s[0] * max(d.shape[0], d[0].size) * np.finfo(np.float32).eps).sum()), s[:5].tolist()]
    rows.append(row)
print(len(rows), sum(r[1] == "changed" for r in rows))
'''


def make(path_a, path_b):
    """A transformer-like mix: a 32000 × 2048 embedding (250 MiB) with a rank-4 edit, and 6 blocks
    of an up projection (8192 × 2048, tall) and a down projection (2048 × 8192, wide), half of
    them with rank-4 edits, plus bias vectors."""
    import numpy as np
    from safetensors.numpy import save_file
    rng = np.random.default_rng(0)
    a, b = {}, {}

    def add(name, shape, edit):
        w = rng.standard_normal(shape, dtype=np.float32) * 0.02
        a[name] = w
        if edit:
            u, v = rng.standard_normal((shape[0], 4)), rng.standard_normal((4, shape[1]))
            b[name] = w + (u @ v * 1e-3).astype(np.float32)
        else:
            b[name] = w

    add("embed.weight", (32000, 2048), True)
    for i in range(6):
        add(f"layer{i}.up.weight", (8192, 2048), i % 2 == 0)
        add(f"layer{i}.down.weight", (2048, 8192), i % 2 == 1)
        bias = rng.standard_normal(8192, dtype=np.float32)
        a[f"layer{i}.up.bias"] = bias
        b[f"layer{i}.up.bias"] = bias
    save_file(a, path_a)
    del a
    save_file(b, path_b)


def timed(cmd, env):
    """Wall time and peak RSS (MiB) of the command, from GNU time (ru_maxrss of a child forked from this
    process would count the parent's pages from before exec)."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        start = time.perf_counter()
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss.name] + cmd, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            sys.exit(f"{cmd[0]} failed: {proc.stderr}")
        return seconds, int(rss.read().split()[-1]) / 1024, proc.stdout


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=os.path.join(root, ".build-rel/release/modelforget"))
    parser.add_argument("--keep", action="store_true", help="keep the checkpoints in the temporary folder")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="diffbench-")
    path_a, path_b = os.path.join(work, "a.safetensors"), os.path.join(work, "b.safetensors")
    make(path_a, path_b)
    size = os.path.getsize(path_a) / 2**30
    env = dict(os.environ, OPENBLAS_NUM_THREADS="2")
    # Page cache warm for both tools: read both files once.
    for p in (path_a, path_b):
        with open(p, "rb") as f:
            while f.read(1 << 24):
                pass
    mf = timed([args.binary, "diff", path_a, path_b, "--json"], env)
    np_ = timed([sys.executable, "-c", NUMPY_DIFF, path_a, path_b], env)
    report = json.loads(mf[2])
    print(f"# two {size:.2f} GiB safetensors checkpoints, 19 tensors (a 250 MiB embedding), 7 matrices changed (rank 4); OPENBLAS_NUM_THREADS=2")
    print("| tool | time (s) | peak RSS (MiB) | tensors changed |")
    print("|---|---|---|---|")
    print(f"| modelforget diff --json | {mf[0]:.1f} | {mf[1]:.0f} | {report['summary']['tensors_changed']} |")
    print(f"| NumPy (safe_open + float64 + svd) | {np_[0]:.1f} | {np_[1]:.0f} | {np_[2].split()[1]} |")
    ranks = sorted({t['rank'] for t in report['tensors'] if t['status'] == 'changed'})
    print(f"ranks of the changed matrices reported by modelforget: {ranks}")
    if not args.keep:
        for p in (path_a, path_b):
            os.remove(p)
        os.rmdir(work)


if __name__ == "__main__":
    main()
