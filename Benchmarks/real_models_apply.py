#!/usr/bin/env python3
"""`apply` on classifiers built with torchvision, timm and transformers code and trained on small
real data (Benchmarks/real_models/make_real_models.py --tier trained: sklearn digits upscaled to
32×32 RGB, MNIST-1D for the Conv1d model; train.npz / test.npz in each folder).

For every model folder under MODELS (default /work/models/trained) and every class set, runs
    modelforget apply FOLDER --classes C --data train.npz --eval-data test.npz [extra flags] -o OUT --report R
from the model folder (safetensors + config.json; when the folder alone does not fix the
architecture, `--arch model.onnx` binds the checkpoint to its own ONNX export), and prints one
Markdown row per run: forget / retain test accuracy before → after, the retain drop in points,
wall seconds, and which architecture source was used. Folders named *-without-5-7 (retrained
without the classes, the reference) are skipped.

Usage: python3 Benchmarks/real_models_apply.py [--models DIR] [--binary .build/release/modelforget]
           [--classes 5,7 --classes 3] [-- extra apply flags, e.g. --search]
"""
import argparse, json, os, subprocess, sys, tempfile, time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def apply(binary, folder, classes, extra, workdir, arch=None):
    """`folder` holds the data; the model is the folder itself, or its model.safetensors with `arch`."""
    name = os.path.basename(folder)
    stem = os.path.join(workdir, f"{name}-{classes.replace(',', '-')}")
    output, report = stem + (".safetensors" if arch else ".out/"), stem + ".json"
    model = os.path.join(folder, "model.safetensors") if arch else folder
    command = [binary, "apply", model, "--classes", classes, "--data", os.path.join(folder, "train.npz"),
               "--eval-data", os.path.join(folder, "test.npz"), "-o", output, "--report", report, "--quiet"] + extra
    if arch:
        command += ["--arch", arch]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
    seconds = time.perf_counter() - start
    subprocess.run(["rm", "-rf", output])
    return done, seconds, report


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="/work/models/trained")
    parser.add_argument("--binary", default=os.path.join(root, ".build/release/modelforget"))
    parser.add_argument("--classes", action="append")
    parser.add_argument("extra", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    extra = [a for a in args.extra if a != "--"]
    class_sets = args.classes or ["5,7", "3"]
    print(f"# {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, flags: {' '.join(extra) or '(defaults)'}")
    print("| model | classes | architecture from | forget acc. before → after | retain acc. before → after | drop (points) | seconds |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as workdir:
        for name in sorted(os.listdir(args.models)):
            folder = os.path.join(args.models, name)
            if not os.path.isdir(folder) or name.endswith("-without-5-7"):
                continue
            for classes in class_sets:
                done, seconds, report = apply(args.binary, folder, classes, extra, workdir)
                source = "folder"
                if done.returncode != 0 and os.path.exists(os.path.join(folder, "model.onnx")):
                    first_error = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "?"
                    done, seconds, report = apply(args.binary, folder, classes, extra, workdir, arch=os.path.join(folder, "model.onnx"))
                    source = f"--arch model.onnx (folder alone: {first_error[first_error.find(': ') + 2:][:90]})"
                if done.returncode != 0:
                    message = (done.stderr.strip().splitlines() or ["?"])[-1]
                    print(f"| {name} | {classes} | {source} | failed: {message[:160]} | | | {seconds:.1f} |", flush=True)
                    continue
                with open(report) as f:
                    evaluation = json.load(f)["evaluation"]
                b, a = evaluation["before"], evaluation["after"]
                drop = 100 * (b["retain_accuracy"] - a["retain_accuracy"])
                print(f"| {name} | {classes} | {source} | {100 * b['forget_accuracy']:.2f}% → {100 * a['forget_accuracy']:.2f}% "
                      f"| {100 * b['retain_accuracy']:.2f}% → {100 * a['retain_accuracy']:.2f}% | {drop:.2f} | {seconds:.1f} |", flush=True)


if __name__ == "__main__":
    main()
