#!/usr/bin/env python3
"""Sharded statistics at CIFAR ResNet-18 size: one `stats collect` over the whole data set against
`stats collect --shard i/4` for i = 1…4 (run one after the other on this machine, as four machines
would run them side by side) and `stats merge` of the parts.

Model and data are those of resnet18_bench.py (11.2 M parameters, 3×32×32 inputs, 2000 random
samples, 10 classes; made with torch from the dev venv, seeded). Prints the wall time of every
process, each part's collection time and samples/s (its --json line), file sizes, and the largest
difference between the merged Grams and the single run's (relative to each Gram's largest entry;
vector counts must be equal).

Usage: /work/venv/bin/python Benchmarks/stats_shard_bench.py [--binary .build/release/modelforget] [--workdir /tmp/mf-resnet18]
OPENBLAS_NUM_THREADS is set to 1 for the runs (modelforget parallelises over two workers itself).
"""
import argparse, json, os, resource, subprocess, sys, time
import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
sys.path.insert(0, here)


def run(argv, env):
    start = time.perf_counter()
    result = subprocess.run(argv, check=True, stdout=subprocess.PIPE, text=True, env=env)
    return time.perf_counter() - start, result.stdout


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=os.path.join(root, ".build/release/modelforget"))
    parser.add_argument("--workdir", default="/tmp/mf-resnet18")
    parser.add_argument("--parts", type=int, default=4)
    args = parser.parse_args()
    import resnet18_bench
    model, data = resnet18_bench.prepare(args.workdir)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    out = os.path.join(args.workdir, "shards")
    os.makedirs(out, exist_ok=True)
    single = os.path.join(out, "single.stats.safetensors")
    seconds, _ = run([args.binary, "stats", "collect", model, "--data", data, "-o", single, "--quiet"], env)
    print(f"single stats collect: {seconds:.1f} s, {os.path.getsize(single) / 1e9:.2f} GB, peak RSS {peak_rss_mib():.0f} MiB")
    parts, total = [], 0.0
    for i in range(1, args.parts + 1):
        path = os.path.join(out, f"part-{i}.stats.safetensors")
        seconds, line = run([args.binary, "stats", "collect", model, "--data", data, "--shard", f"{i}/{args.parts}", "-o", path, "--json", "--quiet"], env)
        report = json.loads(line)
        total += seconds
        parts.append(path)
        print(f"part {report['shard']}: {seconds:.1f} s whole process ({report['collect_seconds']:.1f} s collecting, "
              f"{report['samples']} samples, {report['samples_per_second']:.1f} samples/s), {report['bytes'] / 1e9:.2f} GB")
    merged = os.path.join(out, "merged.stats.safetensors")
    seconds, summary = run([args.binary, "stats", "merge", *reversed(parts), "-o", merged], env)
    print(f"stats merge: {seconds:.1f} s ({summary.strip()}), peak RSS of any run {peak_rss_mib():.0f} MiB")
    print(f"parts one after the other: {total:.1f} s; on {args.parts} machines: slowest part + merge")
    from safetensors import safe_open
    worst = 0.0
    with safe_open(single, "np") as a, safe_open(merged, "np") as b:
        assert set(a.keys()) == set(b.keys())
        for name in a.keys():
            x, y = a.get_tensor(name), b.get_tensor(name)
            if name.endswith(".rows"):
                assert int(x) == int(y), name
            else:
                worst = max(worst, float(np.abs(x - y).max() / max(np.abs(x).max(), 1e-300)))
    print(f"merged vs single: max |merged - single| / max|single| = {worst:.1e} (vector counts equal)")


if __name__ == "__main__":
    main()
