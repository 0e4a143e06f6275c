#!/usr/bin/env python3
"""Writes the ImageData test fixtures: small images in every layout the decoders handle, what PIL
and torchvision make of them, image sources (folder, manifests, WebDataset shards) and hostile files.

Run from the repository root with the dev virtualenv (needs Pillow, numpy, torch, torchvision,
transformers, timm):
    /work/venv/bin/python Tests/ImageDataTests/Fixtures/make_fixtures.py
Made with Python 3.11, Pillow 13.0.0 (libjpeg-turbo 3.2.0, libwebp 1.6.0, zlib-ng), numpy 2.4.6,
torch 2.15.0, torchvision 0.29.2, transformers 5.25.0, timm 1.0.31. Seeded: two runs give the same files.

Outputs (all in this folder):
- images/NAME.{jpg,png,webp}: the decoding and pipeline inputs (see DECODE and PIPELINES below).
- expected.npz: for every image, `decoded_rgb_NAME` (uint8 H x W x 3, PIL `convert("RGB")`) and
  for six of them `decoded_l_NAME` (uint8 H x W, `convert("RGB").convert("L")`); for every pipeline case,
  `bytes_CASE` (uint8 H x W x C: the PIL image after Resize + CenterCrop) and, for the cases
  marked `tensor`, `tensor_CASE` (float32 C x H x W: after ToTensor + Normalize).
- cases.json: the pipeline cases (image, channels, resize, crop, interpolation, mean, std).
- sources/: an ImageFolder tree, CSV and JSON Lines manifests over a flat folder, two WebDataset
  shards holding the same images, and sources.json with torchvision's class_to_idx and sample order.
- hostile/: truncated, empty, oversized-header and decompression-bomb files.
- models/{vit,convnext,timm}/: configuration files of transformers (preprocessor_config.json,
  config.json id2label) and timm (config.json pretrained_cfg, label_names); expected.npz holds
  `model_NAME`, what transformers' slow image processor or timm's eval transform makes of images/rgb.png.
"""
import io, json, os, struct, tarfile, zlib
import numpy as np
from PIL import Image
import torch
from torchvision import transforms
from torchvision.datasets import ImageFolder

here = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(20261206)
torch.set_num_threads(1)


def photo(width, height, seed):
    """A test picture: smooth gradients, a sinusoid, a sharp-edged rectangle and noise."""
    g = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    r = 255 * x / max(width - 1, 1)
    gr = 127 + 100 * np.sin(x / 3.1 + y / 4.7)
    b = 255 * y / max(height - 1, 1)
    img = np.stack([r, gr, b], axis=-1)
    img[height // 4: height // 2, width // 3: 2 * width // 3] = [250, 20, 40]
    img += g.normal(0, 18, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def save(image, name, **options):
    os.makedirs(os.path.join(here, "images"), exist_ok=True)
    image.save(os.path.join(here, "images", name), **options)
    return name


expected = {}
images = []  # file names

# --- Decoding: one file per layout ----------------------------------------------------------
rgb = Image.fromarray(photo(61, 47, 1))
rgb_big = Image.fromarray(photo(131, 97, 2))
rgb_small = Image.fromarray(photo(23, 17, 3))
images += [
    save(rgb, "rgb420.jpg", quality=90),
    save(rgb, "rgb444.jpg", quality=90, subsampling=0),
    save(rgb, "progressive.jpg", quality=85, progressive=True),
    save(rgb.convert("L"), "gray.jpg", quality=90),
    save(rgb.convert("CMYK"), "cmyk.jpg", quality=90),
    save(rgb_big, "big.jpg", quality=85),
    save(rgb_small, "small.jpg", quality=95),
    save(rgb, "rgb.png"),
    save(rgb_big, "big.png"),
    save(rgb_small, "small.png"),
    save(rgb.convert("L"), "gray.png"),
    save(rgb.convert("LA"), "gray_alpha.png"),
    save(Image.fromarray(np.dstack([np.asarray(rgb), rng.integers(0, 256, (47, 61), dtype=np.uint8)])), "rgba.png"),
    save(rgb.quantize(colors=23, method=Image.Quantize.MEDIANCUT), "palette.png"),
    save(rgb.convert("L").point(lambda v: 255 if v > 128 else 0).convert("1"), "bilevel.png"),
    save(rgb, "lossy.webp", quality=80),
    save(rgb_big, "big.webp", quality=80),
    save(rgb_small, "small.webp", quality=90),
    save(rgb, "lossless.webp", lossless=True),
    save(Image.fromarray(np.dstack([np.asarray(rgb), np.full((47, 61), 200, np.uint8)])), "alpha.webp", quality=80),
]


def write_png(path, width, height, bit_depth, color_type, raw_rows, interlace=0, extra_chunks=()):
    """A PNG written by hand (for layouts PIL does not write: 16-bit RGB, 4-bit gray, Adam7, tRNS)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, interlace)
    body = b"".join(chunk(k, d) for k, d in extra_chunks)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + body + chunk(b"IDAT", zlib.compress(raw_rows, 9)) + chunk(b"IEND", b""))


def rows(array, bytes_per_row):
    data = array.reshape(array.shape[0], -1).tobytes() if array.dtype == np.uint8 else array.astype(">u2").tobytes()
    per = len(data) // array.shape[0]
    return b"".join(b"\x00" + data[i * per:(i + 1) * per] for i in range(array.shape[0]))


h16 = (np.asarray(rgb).astype(np.uint16) * 257 + rng.integers(0, 256, (47, 61, 3))).astype(np.uint16)
write_png(os.path.join(here, "images", "rgb16.png"), 61, 47, 16, 2, rows(h16, 61 * 6)); images.append("rgb16.png")
a16 = np.dstack([h16, rng.integers(0, 65536, (47, 61, 1))]).astype(np.uint16)
write_png(os.path.join(here, "images", "rgba16.png"), 61, 47, 16, 6, rows(a16, 61 * 8)); images.append("rgba16.png")
la16 = np.dstack([h16[:, :, 0], rng.integers(0, 65536, (47, 61))]).astype(np.uint16)
write_png(os.path.join(here, "images", "gray_alpha16.png"), 61, 47, 16, 4, rows(la16, 61 * 4)); images.append("gray_alpha16.png")
g4 = (np.asarray(rgb.convert("L")) >> 4).astype(np.uint8)
g4p = np.pad(g4, ((0, 0), (0, 1)))
packed4 = (g4p[:, 0::2] << 4 | g4p[:, 1::2]).astype(np.uint8)
write_png(os.path.join(here, "images", "gray4.png"), 61, 47, 4, 0, rows(packed4, packed4.shape[1])); images.append("gray4.png")
# A palette with a tRNS chunk (transparency PIL ignores when converting to RGB).
pal = rgb.quantize(colors=16, method=Image.Quantize.MEDIANCUT)
palette_bytes = bytes(pal.getpalette()[:48])
write_png(os.path.join(here, "images", "palette_trns.png"), 61, 47, 8, 3, rows(np.asarray(pal), 61),
          extra_chunks=[(b"PLTE", palette_bytes), (b"tRNS", bytes(range(0, 256, 16)))]); images.append("palette_trns.png")
# Adam7: PIL writes no interlaced PNG, so the passes are laid out here.
def adam7(array):
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    out = b""
    for x0, y0, dx, dy in passes:
        sub = array[y0::dy, x0::dx]
        if sub.size:
            out += rows(np.ascontiguousarray(sub), sub.shape[1] * 3)
    return out
write_png(os.path.join(here, "images", "interlaced.png"), 61, 47, 8, 2, adam7(np.asarray(rgb)), interlace=1); images.append("interlaced.png")

for name in images:
    with Image.open(os.path.join(here, "images", name)) as im:
        key = name.replace(".", "_")
        expected["decoded_rgb_" + key] = np.asarray(im.convert("RGB"))
        if name in ("gray.jpg", "cmyk.jpg", "rgb.png", "palette.png", "gray_alpha.png", "lossy.webp"):
            expected["decoded_l_" + key] = np.asarray(im.convert("RGB").convert("L"))

# --- Pipelines: torchvision Resize + CenterCrop + ToTensor + Normalize on PIL images ----------
IMAGENET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
modes = {m: getattr(transforms.InterpolationMode, m.upper()) for m in ["nearest", "box", "bilinear", "hamming", "bicubic", "lanczos"]}
cases = []
def case(name, image, interpolation, resize=None, crop=None, channels=3, normalize=IMAGENET):
    # Float tensors are kept for the cases that test ToTensor + Normalize; the others keep bytes only.
    tensor = name.startswith(("down_", "gray_", "pad", "plain", "cmyk"))
    cases.append(dict(name=name, image=image, interpolation=interpolation, resize=resize, crop=crop,
                      channels=channels, mean=normalize[0] if normalize else None, std=normalize[1] if normalize else None,
                      tensor=tensor))

for ext in ["jpg", "png", "webp"]:
    for f in ["bilinear", "bicubic"]:
        base = "rgb420.jpg" if ext == "jpg" else ("rgb.png" if ext == "png" else "lossy.webp")
        case(f"down_{ext}_{f}", base, f, resize=40, crop=32)
        case(f"bigdown_{ext}_{f}", "big." + ext, f, resize=36, crop=32)
        case(f"up_{ext}_{f}", "small." + ext, f, resize=30, crop=28)
        case(f"gray_{ext}_{f}", base, f, resize=20, crop=None, channels=1, normalize=([0.5], [0.25]))
for f in ["nearest", "box", "hamming", "lanczos"]:
    case(f"down_png_{f}", "rgb.png", f, resize=40, crop=32)
    case(f"up_png_{f}", "small.png", f, resize=30, crop=28)
case("squash_png_bilinear", "rgb.png", "bilinear", resize=[30, 40], crop=None)
case("squash_up_png_bicubic", "small.png", "bicubic", resize=[40, 25], crop=None)
case("pad_png", "small.png", "bilinear", resize=None, crop=[24, 30])
case("pad_one_axis_png", "small.png", "bilinear", resize=None, crop=[11, 30])
case("odd_crop_png", "rgb.png", "bilinear", resize=None, crop=[20, 20])
case("cmyk_jpg_bilinear", "cmyk.jpg", "bilinear", resize=40, crop=32)
case("rgb16_png_bicubic", "rgb16.png", "bicubic", resize=40, crop=32, normalize=None)
case("plain_gray_png", "gray.png", "bilinear", resize=None, crop=None, channels=1, normalize=None)

for c in cases:
    steps = []
    if c["resize"] is not None:
        steps.append(transforms.Resize(c["resize"], interpolation=modes[c["interpolation"]]))
    if c["crop"] is not None:
        steps.append(transforms.CenterCrop(c["crop"]))
    with Image.open(os.path.join(here, "images", c["image"])) as im:
        im = im.convert("RGB")
        if c["channels"] == 1:
            im = transforms.Grayscale(1)(im)
        for s in steps:
            im = s(im)
        expected["bytes_" + c["name"]] = np.asarray(im).reshape(im.size[1], im.size[0], c["channels"])
        t = transforms.ToTensor()(im)
        if c["mean"] is not None:
            t = transforms.Normalize(c["mean"], c["std"])(t)
        if c["tensor"]:
            expected["tensor_" + c["name"]] = t.numpy().astype(np.float32)

# --- Model folders: preprocessing read from transformers' and timm's configuration files --------
def model_folder(name, files):
    folder = os.path.join(here, "models", name)
    os.makedirs(folder, exist_ok=True)
    for file, content in files.items():
        with open(os.path.join(folder, file), "w") as f:
            json.dump(content, f, indent=1)
            f.write("\n")
    return folder

labels = {str(i): n for i, n in enumerate(["cat", "Dog", "zebra", "10", "2", "\u00e9t\u00e9"])}
vit = model_folder("vit", {
    "preprocessor_config.json": {"image_processor_type": "ViTImageProcessor", "do_resize": True, "size": {"height": 32, "width": 40},
                                 "resample": 2, "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
                                 "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]},
    "config.json": {"model_type": "vit", "id2label": labels}})
convnext = model_folder("convnext", {
    "preprocessor_config.json": {"image_processor_type": "ConvNextImageProcessor", "do_resize": True, "size": {"shortest_edge": 32},
                                 "crop_pct": 0.875, "resample": 3, "do_rescale": True, "rescale_factor": 0.00392156862745098,
                                 "do_normalize": True, "image_mean": IMAGENET[0], "image_std": IMAGENET[1]}})
timm_cfg = {"input_size": [3, 32, 32], "crop_pct": 0.9, "crop_mode": "center", "interpolation": "bicubic",
            "mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711]}
timm_folder = model_folder("timm", {"config.json": {"architecture": "resnet18", "num_classes": 6, "pretrained_cfg": timm_cfg,
                                                    "label_names": list(labels.values())}})
from transformers import AutoImageProcessor
import timm.data
with Image.open(os.path.join(here, "images", "rgb.png")) as im:
    im = im.convert("RGB")
    for name, folder in [("vit", vit), ("convnext", convnext)]:
        processor = AutoImageProcessor.from_pretrained(folder, backend="pil")
        expected["model_" + name] = processor(im, return_tensors="np")["pixel_values"][0].astype(np.float32)
    transform = timm.data.create_transform(**timm.data.resolve_data_config(pretrained_cfg=timm_cfg), is_training=False)
    expected["model_timm"] = transform(im).numpy().astype(np.float32)

np.savez_compressed(os.path.join(here, "expected.npz"), **expected)
with open(os.path.join(here, "cases.json"), "w") as f:
    json.dump(cases, f, indent=1)
    f.write("\n")

# --- Sources ----------------------------------------------------------------------------------
src = os.path.join(here, "sources")
classes = ["cat", "Dog", "zebra", "10", "2", "\u00e9t\u00e9"]  # sorted by code point: 10, 2, Dog, cat, zebra, été
tree = os.path.join(src, "folder")
flat = os.path.join(src, "flat")
os.makedirs(flat, exist_ok=True)
manifest = []
k = 0
for ci, cls in enumerate(classes):
    os.makedirs(os.path.join(tree, cls), exist_ok=True)
    for j in range(ci % 3 + 1):
        im = Image.fromarray(photo(12 + j, 10, 100 + k))
        ext = ["png", "jpg", "webp"][k % 3]
        name = f"img{k:02d}.{ext}"
        # One sample in a nested folder (torchvision walks class folders recursively).
        sub = os.path.join(tree, cls, "nested") if (cls == "Dog" and j == 1) else os.path.join(tree, cls)
        os.makedirs(sub, exist_ok=True)
        opts = dict(quality=95) if ext == "jpg" else (dict(lossless=True) if ext == "webp" else {})
        im.save(os.path.join(sub, name), **opts)
        im.save(os.path.join(flat, name), **opts)
        manifest.append((name, cls))
        k += 1
# Files torchvision skips (not image extensions) and a hidden folder we skip.
with open(os.path.join(tree, "cat", "notes.txt"), "w") as f:
    f.write("not an image\n")
os.makedirs(os.path.join(tree, ".ipynb_checkpoints"), exist_ok=True)
Image.fromarray(photo(12, 10, 99)).save(os.path.join(tree, ".ipynb_checkpoints", "img00-checkpoint.png"))

class NoHidden(ImageFolder):
    def find_classes(self, directory):
        names = sorted(e.name for e in os.scandir(directory) if e.is_dir() and not e.name.startswith("."))
        return names, {n: i for i, n in enumerate(names)}
folder = NoHidden(tree)
order = [(os.path.relpath(p, tree), y) for p, y in folder.samples]

with open(os.path.join(src, "manifest.csv"), "w", newline="") as f:
    f.write("path,label\n")
    for name, cls in manifest:
        f.write(f"flat/{name},{cls}\n")
with open(os.path.join(src, "manifest_int.csv"), "w") as f:
    for i, (name, cls) in enumerate(manifest):
        f.write(f"\"flat/{name}\",{i % 4}\n")
with open(os.path.join(src, "manifest.jsonl"), "w") as f:
    for name, cls in manifest:
        f.write(json.dumps({"path": "flat/" + name, "label": cls}, ensure_ascii=False) + "\n")

# WebDataset: the ImageFolder's samples, in its order, split over two shards.
shards = os.path.join(src, "wds")
os.makedirs(shards, exist_ok=True)
def add(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 1765000000
    tar.addfile(info, io.BytesIO(data))
half = (len(order) + 1) // 2
for s, part in enumerate([order[:half], order[half:]]):
    with tarfile.open(os.path.join(shards, f"shard-{s:06d}.tar"), "w", format=tarfile.USTAR_FORMAT) as tar:
        for i, (rel, label) in enumerate(part):
            key = f"sample{s}{i:03d}"
            ext = rel.rsplit(".", 1)[1]
            with open(os.path.join(tree, rel), "rb") as f:
                add(tar, f"{key}.{ext}", f.read())
            add(tar, f"{key}.cls", str(label).encode())
            add(tar, f"{key}.json", b"{}")

with open(os.path.join(src, "sources.json"), "w") as f:
    json.dump({"class_to_idx": folder.class_to_idx, "samples": order,
               "manifest": manifest}, f, indent=1, ensure_ascii=False)
    f.write("\n")

# --- Hostile files ----------------------------------------------------------------------------
hostile = os.path.join(here, "hostile")
os.makedirs(hostile, exist_ok=True)
for name in ["rgb420.jpg", "progressive.jpg", "rgb.png", "lossy.webp"]:
    with open(os.path.join(here, "images", name), "rb") as f:
        data = f.read()
    with open(os.path.join(hostile, "truncated_" + name), "wb") as f:
        f.write(data[: len(data) // 2])
open(os.path.join(hostile, "empty.png"), "wb").close()
with open(os.path.join(hostile, "not_an_image.jpg"), "wb") as f:
    f.write(b"GIF89a" + bytes(40))
# Headers declaring 60000 x 60000 pixels (10.8 GB as RGB) followed by almost no data.
write_png(os.path.join(hostile, "huge_header.png"), 60000, 60000, 8, 2, zlib.compress(b"\x00" * 100))
with open(os.path.join(here, "images", "rgb420.jpg"), "rb") as f:
    jpeg = bytearray(f.read())
sof = jpeg.find(b"\xff\xc0")
struct.pack_into(">HH", jpeg, sof + 5, 60000, 60000)
with open(os.path.join(hostile, "huge_header.jpg"), "wb") as f:
    f.write(bytes(jpeg))
# A decompression bomb: 1-bit 16000 x 16000 (256 Mpx, 768 MB as RGB) from 31 kB of zlib.
row = b"\x00" + bytes(16000 // 8)
write_png(os.path.join(hostile, "bomb.png"), 16000, 16000, 1, 0, row * 16000)
# A zero-width PNG header.
write_png(os.path.join(hostile, "zero_width.png"), 0, 10, 8, 0, b"")
# 16-bit grayscale (refused: PIL clips it).
write_png(os.path.join(hostile, "gray16.png"), 4, 4, 16, 0, rows(np.full((4, 4), 1000, np.uint16), 8))
print(f"{len(images)} images, {len(cases)} pipeline cases, {len(order)} source samples")
