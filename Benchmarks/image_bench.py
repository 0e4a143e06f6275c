#!/usr/bin/env python3
"""Image decoding + preprocessing throughput: modelforget (ImageData) vs PIL + torchvision.

Generates --count JPEGs of 500 x 375 (seeded smooth colour fields with edges and noise, quality 90,
4:2:0, in an ImageFolder of 10 classes; generated once, kept in --folder), then measures, on the
same folder, the same pipeline and the same number of cores (--threads, default 2):
  - PIL + torchvision: ImageFolder with Compose([Resize(256), CenterCrop(224), ToTensor(),
    Normalize(ImageNet)]) (PIL backend; the loader converts to RGB) through a DataLoader with
    --threads worker processes, batch 64, no shuffling, collated float32 batches; each worker runs
    one torch thread (the DataLoader's default);
  - modelforget: the `image-loading` benchmark executable (Benchmarks/ImageLoading: ImageCollection +
    ImageSamples.forEachBatch with the same pipeline, batch 64, --threads threads), release build.
Each side runs --epochs full passes over the folder (the first includes worker start-up for the
DataLoader and cold caches for both); the best epoch is reported as images/s. --interpolation
switches both to bicubic.

Usage: /work/venv/bin/python Benchmarks/image_bench.py [--binary .build-rel/release/image-loading]
       [--folder /tmp/mf-image-bench] [--count 3000] [--threads 2] [--epochs 3] [--interpolation bilinear]
"""
import argparse, os, re, subprocess, time
import numpy as np
from PIL import Image

parser = argparse.ArgumentParser()
parser.add_argument("--binary", default=".build-rel/release/image-loading")
parser.add_argument("--folder", default="/tmp/mf-image-bench")
parser.add_argument("--count", type=int, default=3000)
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--interpolation", default="bilinear")
args = parser.parse_args()


def generate(folder, count):
    rng = np.random.default_rng(20261206)
    y, x = np.mgrid[0:375, 0:500].astype(np.float32)
    for i in range(count):
        path = os.path.join(folder, f"class{i % 10}", f"{i:05d}.jpg")
        if os.path.exists(path):
            continue
        os.makedirs(os.path.dirname(path), exist_ok=True)
        a, b, c = rng.uniform(0.005, 0.05, 3)
        img = np.stack([127 + 120 * np.sin(a * x + b * y), 127 + 120 * np.cos(b * x - c * y), 127 + 120 * np.sin(c * (x + y))], -1)
        x0, y0 = rng.integers(0, 400), rng.integers(0, 300)
        img[y0:y0 + 80, x0:x0 + 100] = rng.uniform(0, 255, 3)
        img += rng.normal(0, 12, img.shape)
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path, quality=90)


def torchvision_side():
    import torch
    from torchvision import datasets, transforms
    modes = {"bilinear": transforms.InterpolationMode.BILINEAR, "bicubic": transforms.InterpolationMode.BICUBIC}
    transform = transforms.Compose([transforms.Resize(256, interpolation=modes[args.interpolation]), transforms.CenterCrop(224),
                                    transforms.ToTensor(), transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    dataset = datasets.ImageFolder(args.folder, transform=transform)
    loader = torch.utils.data.DataLoader(dataset, batch_size=64, shuffle=False, num_workers=args.threads)
    torch.set_num_threads(1)
    rates = []
    for epoch in range(args.epochs):
        start = time.perf_counter()
        n = 0
        for images, labels in loader:
            n += images.shape[0]
        seconds = time.perf_counter() - start
        rates.append(n / seconds)
        print(f"PIL + torchvision epoch {epoch}: {n} images in {seconds:.3f} s = {n / seconds:.1f} images/s")
    return max(rates)


def modelforget_side():
    out = subprocess.run([args.binary, args.folder, "--threads", str(args.threads), "--epochs", str(args.epochs),
                          "--interpolation", args.interpolation], check=True, capture_output=True, text=True).stdout
    print(out, end="")
    return max(float(r) for r in re.findall(r"= ([0-9.]+) images/s", out))


start = time.perf_counter()
generate(args.folder, args.count)
print(f"folder {args.folder}: {args.count} JPEGs 500x375 ready in {time.perf_counter() - start:.1f} s")
ours = modelforget_side()
theirs = torchvision_side()
print(f"best epoch: modelforget {ours:.1f} images/s, PIL + torchvision {theirs:.1f} images/s, ratio {ours / theirs:.2f}")
