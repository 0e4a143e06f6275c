#!/usr/bin/env python3
"""Makes real-library classifier checkpoints (dev-time only; the product never runs Python).

Every model is built by its library's own model code (torchvision, timm, Hugging Face transformers)
and saved the way that library saves it:

  torchvision   safetensors.torch.save_file(model.state_dict(), "model.safetensors")   (no config)
  timm          timm.models.save_for_hf(model, dir, safe_serialization=True, ...)
                  -> model.safetensors + config.json (architecture, num_classes, model_args,
                     pretrained_cfg, label_names)
  transformers  model.save_pretrained(dir) + image_processor.save_pretrained(dir)
                  -> model.safetensors + config.json (id2label ...) + preprocessor_config.json

and, beside it, in every folder:

  model.onnx          torch.onnx.export(..., dynamo=True), the exporter's own choices (opset,
                      external data -> model.onnx.data), batch axis dynamic
  model.legacy.onnx   torch.onnx.export(..., dynamo=False, opset_version=17), its defaults
                      (constant folding, eval mode: BatchNorm folded into Conv), batch axis dynamic
  expected.npz        x (a seeded float32 batch, normalised as the model expects) and PyTorch's
                      float32 eval-mode logits; onnxruntime must reproduce them (checked here)

Tiers (see README.md beside this script):
  --tier tiny      random init, tiny widths, 32x32, 10 classes; committed ones go to
                   Tests/Fixtures/RealModels/, the ones the library's fixed widths make too big to
                   commit go to /work/models/tiny/; writes manifest.json in each
  --tier trained   trained on scikit-learn digits (upscaled to 3x32x32) and MNIST-1D, into
                   /work/models/trained/ (train.npz, test.npz, accuracy.json per model);
                   --without 5,7 trains the same model from scratch without those classes;
                   four models are held out of every default (timm DeiT distilled, timm
                   ResNet-10t, torchvision MobileNetV2, transformers ConvNeXt): trained only
                   when named in --only, to check defaults on models they were not chosen on
  --tier large     torchvision ResNet-50 and ViT-B/16 at 224x224, random init, into /work/models/large/
  --tier inventory rewrites OPERATORS.md and the layout section of README.md from the manifests

Deterministic: fixed seeds per model, one thread for the tiny and large tiers (two for training),
deterministic algorithms.
"""
import argparse, collections, hashlib, json, math, os, re, shutil, sys, time, warnings, zlib
from dataclasses import dataclass, field
from functools import partial
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

warnings.filterwarnings("ignore")
import logging
logging.getLogger("torch.onnx").setLevel(logging.ERROR)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SEED = 20261206
NUM_CLASSES = 10
LABELS = [str(i) for i in range(NUM_CLASSES)]
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
HALF = [0.5, 0.5, 0.5]
OUT = {
    "tiny": os.path.join(REPO, "Tests", "Fixtures", "RealModels"),
    "tiny-oversize": "/work/models/tiny",
    "trained": "/work/models/trained",
    "large": "/work/models/large",
}
EXPECTED_SAMPLES = 4


def seed_for(name):
    return (SEED + zlib.crc32(name.encode())) % (2 ** 31)


def seed_all(seed):
    import random
    random.seed(seed); np.random.seed(seed); torch.manual_seed(seed)


# ---------------------------------------------------------------------------------------------
# Model builders. Each returns (model, info) where info holds what the saver needs.
# ---------------------------------------------------------------------------------------------

def tv_resnet(block, layers=(1, 1, 1, 1), **kw):
    from torchvision.models.resnet import ResNet, BasicBlock, Bottleneck
    return ResNet({"basic": BasicBlock, "bottleneck": Bottleneck}[block], list(layers), num_classes=NUM_CLASSES, **kw)


def tv_vit(**kw):
    from torchvision.models.vision_transformer import VisionTransformer
    return VisionTransformer(num_classes=NUM_CLASSES, **kw)


def tv_convnext(dims, depths):
    from torchvision.models.convnext import ConvNeXt, CNBlockConfig
    cfg = [CNBlockConfig(d, dims[i + 1] if i + 1 < len(dims) else None, n) for i, (d, n) in enumerate(zip(dims, depths))]
    return ConvNeXt(cfg, stochastic_depth_prob=0.0, num_classes=NUM_CLASSES)


def tv_efficientnet_b0(width_mult=1.0, depth_mult=1.0):
    """EfficientNet-B0's block table (torchvision's own), scaled with its MBConvConfig knobs."""
    from torchvision.models import efficientnet as tve
    if width_mult == 1.0 and depth_mult == 1.0:
        return tve.efficientnet_b0(num_classes=NUM_CLASSES)
    b = partial(tve.MBConvConfig, width_mult=width_mult, depth_mult=depth_mult)
    setting = [b(1, 3, 1, 32, 16, 1), b(6, 3, 2, 16, 24, 2), b(6, 5, 2, 24, 40, 2), b(6, 3, 2, 40, 80, 3),
               b(6, 5, 1, 80, 112, 3), b(6, 5, 2, 112, 192, 4), b(6, 3, 1, 192, 320, 1)]
    return tve.EfficientNet(setting, dropout=0.2, num_classes=NUM_CLASSES)


def tv_mobilenet(version, width_mult):
    from torchvision.models import mobilenet_v2, mobilenet_v3_small
    f = {"v2": mobilenet_v2, "v3_small": mobilenet_v3_small}[version]
    return f(width_mult=width_mult, num_classes=NUM_CLASSES)


def timm_model(arch, **kw):
    import timm
    return timm.create_model(arch, pretrained=False, num_classes=NUM_CLASSES, **kw)


def hf_model(kind, **kw):
    import transformers as T
    cls, cfg = {
        "resnet": (T.ResNetForImageClassification, T.ResNetConfig),
        "vit": (T.ViTForImageClassification, T.ViTConfig),
        "convnext": (T.ConvNextForImageClassification, T.ConvNextConfig),
        "mobilenet_v2": (T.MobileNetV2ForImageClassification, T.MobileNetV2Config),
    }[kind]
    config = cfg(num_labels=NUM_CLASSES, id2label={i: l for i, l in enumerate(LABELS)},
                 label2id={l: i for i, l in enumerate(LABELS)}, **kw)
    return cls(config)


def hf_processor(kind, size):
    import transformers as T
    if kind == "vit":
        return T.ViTImageProcessor(size={"height": size, "width": size}, image_mean=HALF, image_std=HALF)
    if kind in ("resnet", "convnext"):
        # microsoft/resnet-* and facebook/convnext-* ship a ConvNextImageProcessor with ImageNet mean/std;
        # crop_pct 1.0 makes resize+crop the identity on size x size images.
        return T.ConvNextImageProcessor(size={"shortest_edge": size}, crop_pct=1.0,
                                        image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD)
    if kind == "mobilenet_v2":
        return T.MobileNetV2ImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size},
                                           image_mean=HALF, image_std=HALF)
    raise KeyError(kind)


class Conv1dNet(nn.Module):
    """A small 1-D CNN for MNIST-1D (plain torch; no library has one): 3 strided convs + linear."""

    def __init__(self, channels=32, length=40):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(1, channels, 5, stride=2, padding=2), nn.ReLU(),
            nn.Conv1d(channels, channels, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv1d(channels, channels, 3, stride=2, padding=1), nn.ReLU())
        self.classifier = nn.Linear(channels * (length // 8), NUM_CLASSES)

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


@dataclass
class Spec:
    name: str            # folder name
    library: str         # torchvision | timm | transformers | torch
    family: str          # resnet | vit | convnext | efficientnet | mobilenet | conv1d
    scheme: str          # state-dict naming scheme (library.module)
    arch: str            # what the library calls the architecture
    build: Callable[[], nn.Module]
    size: int = 32       # input height = width
    hf_kind: Optional[str] = None
    commit: bool = True  # tiny tier: small enough for the repository
    note: str = ""
    # trained tier
    epochs: int = 0
    lr: float = 1e-3
    weight_decay: float = 0.05
    data: str = "digits"  # digits | mnist1d
    default: bool = True  # trained tier: trained without --only

    @property
    def input_shape(self):
        return [1, 40] if self.data == "mnist1d" else [3, self.size, self.size]


def tiny_specs():
    S = []
    # ResNet
    S.append(Spec("torchvision-resnet-basic", "torchvision", "resnet", "torchvision.resnet", "ResNet(BasicBlock, [1,1,1,1])",
                  lambda: tv_resnet("basic"), commit=False,
                  note="torchvision's ResNet has fixed 64-512 widths: 4.9M parameters even with one block per stage"))
    S.append(Spec("torchvision-resnet-bottleneck", "torchvision", "resnet", "torchvision.resnet",
                  "ResNet(Bottleneck, [1,1,1,1], width_per_group=16)",
                  lambda: tv_resnet("bottleneck", width_per_group=16), commit=False,
                  note="torchvision's ResNet has fixed 64-512 planes (x4 out): 3.5M parameters at width_per_group=16"))
    S.append(Spec("timm-resnet-basic", "timm", "resnet", "timm.resnet", "resnet18",
                  lambda: timm_model("resnet18", layers=(1, 1, 1, 1), channels=(8, 16, 32, 64))))
    S.append(Spec("timm-resnet-bottleneck", "timm", "resnet", "timm.resnet", "resnet50",
                  lambda: timm_model("resnet50", layers=(1, 1, 1, 1), channels=(4, 8, 16, 32))))
    S.append(Spec("transformers-resnet-basic", "transformers", "resnet", "transformers.resnet", "ResNetForImageClassification",
                  lambda: hf_model("resnet", embedding_size=8, hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1],
                                   layer_type="basic"), hf_kind="resnet"))
    S.append(Spec("transformers-resnet-bottleneck", "transformers", "resnet", "transformers.resnet", "ResNetForImageClassification",
                  lambda: hf_model("resnet", embedding_size=8, hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1],
                                   layer_type="bottleneck"), hf_kind="resnet"))
    # ViT
    S.append(Spec("torchvision-vit", "torchvision", "vit", "torchvision.vit", "VisionTransformer",
                  lambda: tv_vit(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64)))
    S.append(Spec("timm-vit", "timm", "vit", "timm.vit", "vit_tiny_patch16_224",
                  lambda: timm_model("vit_tiny_patch16_224", img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, mlp_ratio=2.0)))
    S.append(Spec("timm-deit-distilled", "timm", "vit", "timm.deit_distilled", "deit_tiny_distilled_patch16_224",
                  lambda: timm_model("deit_tiny_distilled_patch16_224", img_size=32, patch_size=8, embed_dim=32, depth=2,
                                     num_heads=2, mlp_ratio=2.0)))
    S.append(Spec("transformers-vit", "transformers", "vit", "transformers.vit", "ViTForImageClassification",
                  lambda: hf_model("vit", image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2,
                                   num_attention_heads=2, intermediate_size=64), hf_kind="vit"))
    # ConvNeXt
    S.append(Spec("torchvision-convnext", "torchvision", "convnext", "torchvision.convnext", "ConvNeXt",
                  lambda: tv_convnext((8, 16, 32, 64), (1, 1, 1, 1))))
    S.append(Spec("timm-convnext", "timm", "convnext", "timm.convnext", "convnext_atto",
                  lambda: timm_model("convnext_atto", dims=(8, 16, 32, 64), depths=(1, 1, 1, 1))))
    S.append(Spec("transformers-convnext", "transformers", "convnext", "transformers.convnext", "ConvNextForImageClassification",
                  lambda: hf_model("convnext", hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1], image_size=32), hf_kind="convnext"))
    # EfficientNet
    S.append(Spec("torchvision-efficientnet-b0", "torchvision", "efficientnet", "torchvision.efficientnet",
                  "EfficientNet(B0 table, width_mult=0.15, depth_mult=0.25)",
                  lambda: tv_efficientnet_b0(0.15, 0.25)))
    S.append(Spec("timm-efficientnet-b0", "timm", "efficientnet", "timm.efficientnet", "efficientnet_b0",
                  lambda: timm_model("efficientnet_b0"), commit=False,
                  note="timm's efficientnet_b0 factory fixes channel_multiplier=1.0 (4.0M parameters)"))
    S.append(Spec("timm-efficientnet-test", "timm", "efficientnet", "timm.efficientnet", "test_efficientnet",
                  lambda: timm_model("test_efficientnet"),
                  note="timm's own tiny EfficientNet (same class and key scheme as efficientnet_b0; "
                       "blocks cn, er, ir+SE instead of B0's ds, ir+SE)"))
    # MobileNet
    S.append(Spec("torchvision-mobilenet-v2", "torchvision", "mobilenet", "torchvision.mobilenet_v2", "mobilenet_v2(width_mult=0.1)",
                  lambda: tv_mobilenet("v2", 0.1)))
    S.append(Spec("torchvision-mobilenet-v3-small", "torchvision", "mobilenet", "torchvision.mobilenet_v3",
                  "mobilenet_v3_small(width_mult=0.1)", lambda: tv_mobilenet("v3_small", 0.1)))
    S.append(Spec("timm-mobilenet-v2", "timm", "mobilenet", "timm.efficientnet", "mobilenetv2_035",
                  lambda: timm_model("mobilenetv2_035"), commit=False,
                  note="smallest registered timm MobileNetV2; its factory fixes the 0.35 multiplier and 1280 head (0.42M parameters)"))
    S.append(Spec("timm-mobilenet-v3-small", "timm", "mobilenet", "timm.mobilenetv3", "mobilenetv3_small_050",
                  lambda: timm_model("mobilenetv3_small_050"), commit=False,
                  note="smallest registered timm MobileNetV3-small; its factory fixes the 0.5 multiplier and 1024 head (0.59M parameters)"))
    S.append(Spec("transformers-mobilenet-v2", "transformers", "mobilenet", "transformers.mobilenet_v2",
                  "MobileNetV2ForImageClassification",
                  lambda: hf_model("mobilenet_v2", depth_multiplier=0.15, image_size=32, finegrained_output=False),
                  hf_kind="mobilenet_v2"))
    return S


def trained_specs():
    """`default=False` models are trained only when named in --only (slow on two shared cores)."""
    S = []
    S.append(Spec("torchvision-resnet18", "torchvision", "resnet", "torchvision.resnet", "resnet18",
                  lambda: __import__("torchvision").models.resnet18(num_classes=NUM_CLASSES), epochs=4, lr=1e-3))
    S.append(Spec("transformers-resnet-bottleneck", "transformers", "resnet", "transformers.resnet", "ResNetForImageClassification",
                  lambda: hf_model("resnet", embedding_size=32, hidden_sizes=[64, 128, 256, 512], depths=[1, 1, 1, 1],
                                   layer_type="bottleneck"), hf_kind="resnet", epochs=8, lr=1e-3))
    S.append(Spec("torchvision-vit", "torchvision", "vit", "torchvision.vit", "VisionTransformer",
                  lambda: tv_vit(image_size=32, patch_size=8, num_layers=4, num_heads=4, hidden_dim=64, mlp_dim=128),
                  epochs=25, lr=2e-3))
    S.append(Spec("transformers-vit", "transformers", "vit", "transformers.vit", "ViTForImageClassification",
                  lambda: hf_model("vit", image_size=32, patch_size=8, hidden_size=64, num_hidden_layers=4,
                                   num_attention_heads=4, intermediate_size=128), hf_kind="vit", epochs=25, lr=2e-3))
    S.append(Spec("timm-deit-distilled", "timm", "vit", "timm.deit_distilled", "deit_tiny_distilled_patch16_224",
                  lambda: timm_model("deit_tiny_distilled_patch16_224", img_size=32, patch_size=8, embed_dim=64, depth=4,
                                     num_heads=4, mlp_ratio=2.0), epochs=25, lr=2e-3, default=False))
    S.append(Spec("timm-convnext-atto", "timm", "convnext", "timm.convnext", "convnext_atto",
                  lambda: timm_model("convnext_atto"), epochs=5, lr=1e-3))
    S.append(Spec("torchvision-mobilenet-v3-small", "torchvision", "mobilenet", "torchvision.mobilenet_v3", "mobilenet_v3_small",
                  lambda: tv_mobilenet("v3_small", 1.0), epochs=10, lr=2e-3))
    S.append(Spec("torchvision-efficientnet-b0", "torchvision", "efficientnet", "torchvision.efficientnet", "efficientnet_b0",
                  lambda: tv_efficientnet_b0(), epochs=10, lr=2e-3, default=False))
    S.append(Spec("torch-conv1d-mnist1d", "torch", "conv1d", "torch.Conv1dNet", "Conv1dNet",
                  lambda: Conv1dNet(), data="mnist1d", epochs=30, lr=3e-3, weight_decay=1e-4))
    # Held out from every default: trained only when named in --only, to check that the defaults
    # chosen on the models above carry over to architectures they were not measured on.
    S.append(Spec("timm-resnet10t", "timm", "resnet", "timm.resnet", "resnet10t",
                  lambda: timm_model("resnet10t"), epochs=4, lr=1e-3, default=False,
                  note="deep tiered stem and average-pool shortcuts (ResNet-D); held out"))
    S.append(Spec("torchvision-mobilenet-v2", "torchvision", "mobilenet", "torchvision.mobilenet_v2", "mobilenet_v2(width_mult=0.5)",
                  lambda: tv_mobilenet("v2", 0.5), epochs=10, lr=2e-3, default=False, note="held out"))
    S.append(Spec("transformers-convnext", "transformers", "convnext", "transformers.convnext", "ConvNextForImageClassification",
                  lambda: hf_model("convnext", hidden_sizes=[32, 64, 128, 256], depths=[2, 2, 2, 2], image_size=32),
                  hf_kind="convnext", epochs=6, lr=1e-3, default=False, note="held out"))
    return S


def large_specs():
    import torchvision
    return [
        Spec("torchvision-resnet50", "torchvision", "resnet", "torchvision.resnet", "resnet50",
             lambda: torchvision.models.resnet50(), size=224),
        Spec("torchvision-vit-b-16", "torchvision", "vit", "torchvision.vit", "vit_b_16",
             lambda: torchvision.models.vit_b_16(), size=224),
    ]


# ---------------------------------------------------------------------------------------------
# Saving (the library's own way) and exporting
# ---------------------------------------------------------------------------------------------

TOKEN_NAMES = ("cls_token", "dist_token", "class_token", "pos_embed", "pos_embedding", "position_embeddings", "mask_token")


def tiny_init(model, spec, seed, batches=4, batch_size=16):
    """Tiny tier: weights at a trained-like scale, so that the logits depend on the input and every
    tensor matters (a loader that drops or mis-maps one must fail the fixture):
      - tensors constant after init (norm gammas/betas, zero tokens, layer-scale 1e-6, zero-init-last
        gammas): zeros -> N(0, 0.1^2), other constants -> U(0.5, 1.5);
      - class/distillation tokens and position embeddings -> N(0, 0.5^2);
      - other tensors of rank >= 2 (kernels) -> N(0, 1/fan_in), fan_in = numel / out_features;
      - BatchNorm running statistics measured on 4 seeded batches of 16 N(0,1) inputs (cumulative
        average, train mode), i.e. calibrated as if by data."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in list(model.named_parameters()):
            flat = t.reshape(-1)
            if bool((flat == flat[0]).all()):
                if float(flat[0]) == 0.0:
                    t.copy_(torch.randn(t.shape, generator=g) * 0.1)
                else:
                    t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif any(n in name for n in TOKEN_NAMES):
                t.copy_(torch.randn(t.shape, generator=g) * 0.5)
            elif t.ndim >= 2:
                t.copy_(torch.randn(t.shape, generator=g) / math.sqrt(t[0].numel()))
        recalibrate_batchnorm(model, spec, (torch.randn(batch_size, *spec.input_shape, generator=g) for _ in range(batches)))
    model.eval()


def recalibrate_batchnorm(model, spec, batches):
    """Sets every BatchNorm's running mean and variance to the cumulative average over `batches`
    (BatchNorm layers in train mode, everything else in eval mode: no dropout or stochastic depth)."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    saved = [m.momentum for m in bns]
    model.eval()
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
        m.train()
    with torch.no_grad():
        for xb in batches:
            forward(model, xb, spec)
    for m, mom in zip(bns, saved):
        m.momentum = mom
    model.eval()


def input_sensitivity(logits):
    """Mean over classes of the logits' standard deviation across samples, over the mean over samples
    of their standard deviation across classes (0: the logits ignore the input)."""
    return float(logits.std(0).mean() / max(logits.std(1).mean(), 1e-12))


def hf_logits(out):
    return out[0] if isinstance(out, (tuple, list)) else (out.logits if hasattr(out, "logits") else out)


def forward(model, x, spec):
    with torch.no_grad():
        out = model(x, return_dict=False) if spec.library == "transformers" else model(x)
    return hf_logits(out)


def save_checkpoint(model, spec, folder):
    from safetensors.torch import save_file
    if spec.library in ("torchvision", "torch"):
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, os.path.join(folder, "model.safetensors"))
    elif spec.library == "timm":
        import timm
        timm.models.save_for_hf(model, folder, safe_serialization=True,
                                model_config={"label_names": LABELS},
                                data_config={"input_size": tuple(spec.input_shape), "crop_pct": 1.0})
    elif spec.library == "transformers":
        model.save_pretrained(folder)
        hf_processor(spec.hf_kind, spec.size).save_pretrained(folder)
    else:
        raise KeyError(spec.library)


def mean_std(model, spec, folder):
    """The normalisation the saved checkpoint declares (None for torchvision: it saves no config)."""
    if spec.library == "timm":
        cfg = json.load(open(os.path.join(folder, "config.json")))["pretrained_cfg"]
        return list(cfg["mean"]), list(cfg["std"])
    if spec.library == "transformers":
        p = json.load(open(os.path.join(folder, "preprocessor_config.json")))
        return list(p["image_mean"]), list(p["image_std"])
    return None, None


def export_onnx(model, spec, x, folder):
    """Both exporters; returns {file: error-or-None}."""
    results = {}
    batch = torch.export.Dim("batch", min=1, max=4096)
    kwargs = {"return_dict": False} if spec.library == "transformers" else None
    # Default exporter (dynamo=True). Its choices are kept: opset, external data, optimisation.
    path = os.path.join(folder, "model.onnx")
    try:
        if kwargs:
            torch.onnx.export(model, (x,), path, kwargs=kwargs, dynamo=True, input_names=["x"], output_names=["logits"],
                              dynamic_shapes={"pixel_values": {0: batch}, "return_dict": None}, verbose=False)
        else:
            torch.onnx.export(model, (x,), path, dynamo=True, input_names=["x"], output_names=["logits"],
                              dynamic_shapes=({0: batch},), verbose=False)
        results["model.onnx"] = None
    except Exception as e:  # reported, not fatal
        results["model.onnx"] = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
    # Legacy TorchScript exporter, opset 17, its defaults otherwise.
    path = os.path.join(folder, "model.legacy.onnx")
    try:
        torch.onnx.export(model, (x,), path, kwargs=kwargs, dynamo=False, opset_version=17, input_names=["x"],
                          output_names=["logits"], dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}})
        results["model.legacy.onnx"] = None
    except Exception as e:
        results["model.legacy.onnx"] = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
    return results


def ort_check(path, x, logits):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    out = sess.run(None, {name: x})[0]
    diff = float(np.max(np.abs(out - logits)))
    one = sess.run(None, {name: x[:1]})[0]
    diff1 = float(np.max(np.abs(one - logits[:1])))
    return max(diff, diff1)


# ---------------------------------------------------------------------------------------------
# ONNX and checkpoint inventory
# ---------------------------------------------------------------------------------------------

def supported_onnx_ops():
    """The operator set the Swift importer maps today (read from its source)."""
    path = os.path.join(REPO, "Sources", "TensorCore", "GraphOperation+ONNX.swift")
    try:
        text = open(path).read()
    except OSError:
        return None
    m = re.search(r"onnxOperators: Set<String> = \[(.*?)\]", text, re.S)
    return set(re.findall(r'"([A-Za-z]+)"', m.group(1))) if m else None


def _match_initializer(arr, state):
    """How an ONNX initializer that is not named after a state-dict key relates to the state dict."""
    if arr.dtype != np.float32:
        return "int constant" if arr.dtype.kind in "iub" else f"{arr.dtype} constant"
    for k, t in state.items():
        if t.dtype != np.float32:
            continue
        if t.shape == arr.shape and np.array_equal(t, arr):
            return f"= {k}"
        if t.ndim == 2 and t.T.shape == arr.shape and np.array_equal(t.T, arr):
            return f"= {k}.T"
        if t.size == arr.size and t.shape != arr.shape and np.array_equal(t.reshape(-1), arr.reshape(-1)):
            return f"= {k} reshaped"
    for k, t in state.items():
        if t.dtype != np.float32 or t.ndim == 0:
            continue
        for cand, suffix in ((arr, ""), (arr.T if arr.ndim == 2 else None, ".T")):
            if cand is None or cand.ndim != t.ndim or cand.shape[1:] != t.shape[1:] or cand.shape[0] >= t.shape[0]:
                continue
            n = cand.shape[0]
            if t.shape[0] % n == 0:
                for i in range(t.shape[0] // n):
                    if np.array_equal(t[i * n:(i + 1) * n], cand):
                        return f"= {k}[{i * n}:{(i + 1) * n}]{suffix}"
    if arr.size <= 4:
        return "float constant"
    return "computed (not a state-dict tensor: folded/fused)"


def onnx_inventory(path, state):
    """Op types, opsets, initializer naming and layout facts of one exported ONNX file."""
    import onnx
    from onnx import numpy_helper
    m = onnx.load(path, load_external_data=False)
    folder = os.path.dirname(path)
    ops = collections.Counter()

    def walk(graph):
        for n in graph.node:
            ops[(n.domain or "ai.onnx") + "::" + n.op_type] += 1
            for a in n.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    walk(a.g)
    walk(m.graph)
    external = sorted({e.value for i in m.graph.initializer for e in i.external_data if e.key == "location"})
    m_full = onnx.load(path, load_external_data=True) if external else m
    inits = {}
    for i in m_full.graph.initializer:
        inits[i.name] = numpy_helper.to_array(i)
    n_external = sum(1 for i in m.graph.initializer if i.data_location == onnx.TensorProto.EXTERNAL)
    float_state = {k: v for k, v in state.items()}
    named = [k for k in inits if k in state]
    unnamed = {k: v for k, v in inits.items() if k not in state}
    relations = {}
    for k, v in unnamed.items():
        relations[k] = {"shape": list(v.shape), "dtype": str(v.dtype), "is": _match_initializer(v, float_state)}
    missing = [k for k in state if k not in inits and not k.endswith("num_batches_tracked")]
    # Same name, other values: the dynamo exporter folds BatchNorm into the preceding Conv and keeps
    # the Conv's weight name for the folded kernel.
    differing = [k for k in named if inits[k].shape != state[k].shape or not np.array_equal(inits[k], state[k])]
    prefixes = collections.Counter()
    for k in unnamed:
        mm = re.match(r"(onnx::[A-Za-z]+_|val_|_val_|[A-Za-z_.]*?)(\d+)$", k)
        prefixes[(mm.group(1) + "N") if mm else ("other: " + k if len(prefixes) < 50 else "other")] += 1
    constant_nodes = ops.get("ai.onnx::Constant", 0)
    inp = m.graph.input[0]
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    return {
        "ir_version": m.ir_version,
        "opsets": {(o.domain or "ai.onnx"): o.version for o in m.opset_import},
        "producer": f"{m.producer_name} {m.producer_version}",
        "input": {"name": inp.name, "shape": dims},
        "output": m.graph.output[0].name,
        "ops": dict(sorted(ops.items())),
        "nodes": sum(ops.values()),
        "constant_nodes": constant_nodes,
        "initializers": len(inits),
        "initializers_named_as_state_dict": len(named),
        "named_initializers_differing_from_checkpoint": differing,
        "initializers_external": n_external,
        "external_data_files": external,
        "unnamed_initializer_prefixes": dict(prefixes),
        "unnamed_initializers": relations,
        "state_dict_keys_absent": missing,
        "file_bytes": os.path.getsize(path),
        "external_bytes": sum(os.path.getsize(os.path.join(folder, e)) for e in external),
        "metadata_props_on_nodes": sum(len(n.metadata_props) for n in m.graph.node),
    }


def key_layout(state):
    """Representative state-dict keys: the first key of each pattern (indices replaced by N)."""
    seen = collections.OrderedDict()
    for k, v in state.items():
        pattern = re.sub(r"(?<=\.)\d+(?=\.|$)", "N", k)
        pattern = re.sub(r"(?<=_)\d+(?=\.|$)", "N", pattern)
        if pattern not in seen:
            seen[pattern] = (k, list(v.shape), str(v.dtype))
    return [{"key": k, "shape": s, "dtype": d} for k, s, d in seen.values()]


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------

def digits_32(seed=20261122):
    """scikit-learn digits (8x8, 0..16) scaled to [0,1], bilinearly upscaled to 32x32, 3 channels;
    the 70/30 stratified split of Samples/make_samples.py."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    d = load_digits()
    x = torch.from_numpy((d.images / 16.0).astype(np.float32))[:, None]
    x = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False).clamp(0, 1)
    x = x.repeat(1, 3, 1, 1).numpy()
    y = d.target.astype(np.int64)
    return train_test_split(x, y, test_size=0.3, stratify=y, random_state=seed)


def mnist1d_data():
    """MNIST-1D generated locally by the package's own code (no download): 4000 train, 1000 test,
    length 40; x as float32 N x 1 x 40."""
    from mnist1d.data import get_dataset_args, make_dataset
    args = get_dataset_args()
    d = make_dataset(args)
    return (d["x"].astype(np.float32)[:, None, :], d["x_test"].astype(np.float32)[:, None, :],
            d["y"].astype(np.int64), d["y_test"].astype(np.int64))


def normalise(x, mean, std):
    if mean is None:
        return x.astype(np.float32)
    m = np.asarray(mean, np.float32).reshape(1, -1, 1, 1)
    s = np.asarray(std, np.float32).reshape(1, -1, 1, 1)
    return ((x - m) / s).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Tiers
# ---------------------------------------------------------------------------------------------

def versions():
    import timm, torchvision, transformers, onnx, onnxruntime, onnxscript, safetensors
    return {"python": sys.version.split()[0], "torch": torch.__version__, "torchvision": torchvision.__version__,
            "timm": timm.__version__, "transformers": transformers.__version__, "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__, "onnxscript": onnxscript.__version__,
            "safetensors": safetensors.__version__, "numpy": np.__version__}


def write_folder(model, spec, folder, x, extra=None, exporters=("model.onnx", "model.legacy.onnx")):
    """Saves, exports and checks one model; returns its manifest entry."""
    if os.path.isdir(folder):
        shutil.rmtree(folder)
    os.makedirs(folder)
    model.eval()
    save_checkpoint(model, spec, folder)
    mean, std = mean_std(model, spec, folder)
    if extra and extra.get("mean") is not None and mean is None:
        mean, std = extra["mean"], extra["std"]
    logits = forward(model, torch.from_numpy(x), spec).numpy().astype(np.float32)
    np.savez(os.path.join(folder, "expected.npz"), x=x, logits=logits, **({"y": extra["y"]} if extra and "y" in extra else {}))
    errors = export_onnx(model, spec, torch.from_numpy(x), folder) if exporters else {}
    for f in list(errors):
        if f not in exporters:
            for p in (f, f + ".data"):
                if os.path.exists(os.path.join(folder, p)):
                    os.remove(os.path.join(folder, p))
            del errors[f]
    from safetensors.numpy import load_file
    state = load_file(os.path.join(folder, "model.safetensors"))
    onnx_info = {}
    for f, err in errors.items():
        path = os.path.join(folder, f)
        if err is not None or not os.path.exists(path):
            onnx_info[f] = {"error": err or "no file written"}
            continue
        info = onnx_inventory(path, state)
        info["max_abs_diff_vs_pytorch"] = ort_check(path, x, logits)
        onnx_info[f] = info
    files = {}
    for f in sorted(os.listdir(folder)):
        files[f] = os.path.getsize(os.path.join(folder, f))
    config = None
    if os.path.exists(os.path.join(folder, "config.json")):
        config = json.load(open(os.path.join(folder, "config.json")))
    entry = {
        "name": spec.name, "library": spec.library, "family": spec.family, "scheme": spec.scheme,
        "architecture": spec.arch, "input_shape": ["batch"] + spec.input_shape, "input_name": "x", "output_name": "logits",
        "mean": mean, "std": std, "num_classes": NUM_CLASSES,
        "parameters": int(sum(v.size for v in state.values() if v.dtype != np.int64)),
        "files": files, "bytes": sum(files.values()),
        "sha256": {f: sha256(os.path.join(folder, f)) for f in files},
        "onnx": onnx_info, "keys": key_layout(state), "config_keys": sorted(config) if config else None,
        "logits_abs_max": float(np.abs(logits).max()),
        "input_sensitivity": input_sensitivity(logits),
    }
    if spec.note:
        entry["note"] = spec.note
    return entry


def merge_manifest(path, entries, extra):
    manifest = {"entries": {}}
    if os.path.exists(path):
        manifest = json.load(open(path))
    manifest.update(extra)
    for e in entries:
        manifest["entries"][e["name"]] = e
    manifest["entries"] = dict(sorted(manifest["entries"].items()))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=False)
        f.write("\n")
    os.replace(path + ".tmp", path)


def report(entry, secs):
    diffs = ", ".join(f"{f}: " + (f"{i['max_abs_diff_vs_pytorch']:.2e}" if "error" not in i else "FAILED " + i["error"])
                      for f, i in entry["onnx"].items())
    print(f"{entry['name']:32s} {entry['parameters']:>9d} params {entry['bytes'] / 1e6:6.2f} MB {secs:5.1f}s "
          f"|logits|<={entry['logits_abs_max']:.3g} sens {entry['input_sensitivity']:.2f}  {diffs}", flush=True)


def run_tiny(only):
    torch.set_num_threads(1)
    specs = [s for s in tiny_specs() if not only or s.name in only]
    groups = {"tiny": [], "tiny-oversize": []}
    for spec in specs:
        t0 = time.time()
        seed = seed_for(spec.name)
        seed_all(seed)
        model = spec.build().eval()
        tiny_init(model, spec, seed)
        x = torch.randn(EXPECTED_SAMPLES, *spec.input_shape, generator=torch.Generator().manual_seed(seed + 1)).numpy()
        dest = "tiny" if spec.commit else "tiny-oversize"
        entry = write_folder(model, spec, os.path.join(OUT[dest], spec.name), x)
        entry["committed"] = spec.commit
        groups[dest].append(entry)
        report(entry, time.time() - t0)
    for dest, entries in groups.items():
        if entries:
            merge_manifest(os.path.join(OUT[dest], "manifest.json"), entries,
                           {"generator": "Benchmarks/real_models/make_real_models.py --tier tiny", "seed": SEED,
                            "versions": versions()})


def augment(xb, g, pad=2):
    """Random translation by up to `pad` pixels (zero fill), per sample, from generator g."""
    n, c, h, w = xb.shape
    padded = F.pad(xb, (pad, pad, pad, pad))
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=g)
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=g)
    out = torch.empty_like(xb)
    for i in range(n):
        out[i] = padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w]
    return out


def train_model(model, spec, x_raw, y, mean, std, seed, log):
    """AdamW + cosine schedule, batch 64, cross-entropy; digits get +-2 px random shifts (on the raw
    pixels, before normalisation)."""
    g = torch.Generator().manual_seed(seed + 7)
    opt = torch.optim.AdamW(model.parameters(), lr=spec.lr, weight_decay=spec.weight_decay)
    steps_per_epoch = math.ceil(len(y) / 64)
    total = spec.epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / steps_per_epoch) * 0.5 * (1 + math.cos(math.pi * s / total)))
    xt = torch.from_numpy(x_raw)
    yt = torch.from_numpy(y)
    m = None if mean is None else torch.tensor(mean).reshape(1, -1, 1, 1)
    s = None if std is None else torch.tensor(std).reshape(1, -1, 1, 1)
    t0 = time.time()
    for epoch in range(spec.epochs):
        model.train()
        perm = torch.randperm(len(yt), generator=g)
        total_loss = 0.0
        for i in range(0, len(yt), 64):
            idx = perm[i:i + 64]
            xb = xt[idx]
            if spec.data == "digits":
                xb = augment(xb, g)
                if m is not None:
                    xb = (xb - m) / s
            out = model(xb, return_dict=False) if spec.library == "transformers" else model(xb)
            loss = F.cross_entropy(hf_logits(out), yt[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step(); sched.step()
            total_loss += float(loss) * len(idx)
        if epoch == spec.epochs - 1 or epoch % 5 == 0:
            log(f"  epoch {epoch + 1}/{spec.epochs} loss {total_loss / len(yt):.4f} ({time.time() - t0:.0f} s)")
    # torchvision's MobileNetV3 BatchNorm momentum is 0.01: after a few hundred steps the
    # running statistics still lag the weights, so they are measured once more on the training set.
    def batches():
        for i in range(0, len(yt), 64):
            xb = xt[i:i + 64]
            yield (xb - m) / s if m is not None else xb
    recalibrate_batchnorm(model, spec, batches())
    model.eval()


def evaluate(model, spec, x, y):
    preds = []
    with torch.no_grad():
        for i in range(0, len(y), 256):
            preds.append(forward(model, torch.from_numpy(x[i:i + 256]), spec).argmax(1).numpy())
    p = np.concatenate(preds)
    per_class = {str(c): float((p[y == c] == c).mean()) for c in range(NUM_CLASSES)}
    return {"test_accuracy": float((p == y).mean()), "per_class": per_class, "test_samples": int(len(y))}


def run_trained(only, without, threads, epochs=0):
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    specs = [s for s in trained_specs() if ((s.name in only) if only else s.default)]
    digits = digits_32()
    mnist1d = None
    entries = []
    for spec in specs:
        t0 = time.time()
        seed = seed_for(spec.name)
        seed_all(seed)
        if epochs:
            spec = Spec(**{**spec.__dict__, "epochs": epochs})
        model = spec.build()
        if spec.data == "digits":
            x_train, x_test, y_train, y_test = digits
            if spec.library == "timm":
                cfg = model.pretrained_cfg
                mean, std = list(cfg["mean"]), list(cfg["std"])
            elif spec.library == "transformers":
                p = hf_processor(spec.hf_kind, spec.size)
                mean, std = list(p.image_mean), list(p.image_std)
            else:
                mean, std = IMAGENET_MEAN, IMAGENET_STD  # torchvision's convention for its weights
        else:
            if mnist1d is None:
                mnist1d = mnist1d_data()
            x_train, x_test, y_train, y_test = mnist1d
            mean = std = None
        if without:
            keep = ~np.isin(y_train, without)
            x_train, y_train = x_train[keep], y_train[keep]
        name = spec.name + ("-without-" + "-".join(map(str, without)) if without else "")
        print(f"{name}: training {spec.epochs} epochs on {len(y_train)} samples", flush=True)
        train_model(model, spec, x_train, y_train, mean, std, seed, lambda s: print(s, flush=True))
        xn_train = normalise(x_train, mean, std) if spec.data == "digits" else x_train
        xn_test = normalise(x_test, mean, std) if spec.data == "digits" else x_test
        acc = evaluate(model, spec, xn_test, y_test)
        acc["train_accuracy"] = evaluate(model, spec, xn_train, y_train)["test_accuracy"]
        folder = os.path.join(OUT["trained"], name)
        spec_named = Spec(**{**spec.__dict__, "name": name})
        entry = write_folder(model, spec_named, folder, xn_test[:16].copy(),
                             extra={"mean": mean, "std": std, "y": y_test[:16]})
        np.savez(os.path.join(folder, "train.npz"), x=xn_train, y=y_train)
        np.savez(os.path.join(folder, "test.npz"), x=xn_test, y=y_test)
        acc.update({"without": without, "epochs": spec.epochs, "seconds": round(time.time() - t0, 1), "threads": threads,
                    "data": "sklearn digits 8x8 -> bilinear 32x32 x3, 70/30 split" if spec.data == "digits"
                    else "MNIST-1D (mnist1d.make_dataset defaults), 4000/1000"})
        with open(os.path.join(folder, "accuracy.json"), "w") as f:
            json.dump(acc, f, indent=1)
            f.write("\n")
        entry.update({"accuracy": acc, "data_mean": mean, "data_std": std})
        entry["files"] = {f: os.path.getsize(os.path.join(folder, f)) for f in sorted(os.listdir(folder))}
        entries.append(entry)
        report(entry, time.time() - t0)
        print(f"  test accuracy {acc['test_accuracy']:.4f}  per class " +
              " ".join(f"{c}:{a:.2f}" for c, a in acc["per_class"].items()), flush=True)
    merge_manifest(os.path.join(OUT["trained"], "manifest.json"), entries,
                   {"generator": "Benchmarks/real_models/make_real_models.py --tier trained", "seed": SEED,
                    "versions": versions()})


def run_large(only):
    torch.set_num_threads(2)
    specs = [s for s in large_specs() if not only or s.name in only]
    entries = []
    for spec in specs:
        t0 = time.time()
        seed = seed_for(spec.name)
        seed_all(seed)
        model = spec.build().eval()
        # The libraries' own init gives all-zero logits (ViT's zero head) or input-independent ones
        # (ResNet-50's BatchNorm statistics); the tiny tier's trained-like init (2 batches of 8 for
        # the BatchNorm statistics) makes the expected logits a meaningful check.
        tiny_init(model, spec, seed, batches=2, batch_size=8)
        x = torch.randn(2, *spec.input_shape, generator=torch.Generator().manual_seed(seed + 1)).numpy()
        entry = write_folder(model, spec, os.path.join(OUT["large"], spec.name), x,
                             extra={"mean": IMAGENET_MEAN, "std": IMAGENET_STD}, exporters=("model.onnx",))
        entries.append(entry)
        report(entry, time.time() - t0)
    merge_manifest(os.path.join(OUT["large"], "manifest.json"), entries,
                   {"generator": "Benchmarks/real_models/make_real_models.py --tier large", "seed": SEED,
                    "versions": versions()})


# ---------------------------------------------------------------------------------------------
# Inventory (OPERATORS.md, README layout section)
# ---------------------------------------------------------------------------------------------

TIERS = (("tiny", "tiny"), ("tiny (not committed)", "tiny-oversize"), ("trained", "trained"), ("large", "large"))


def load_manifests():
    """[(tier label, entry)] and {(tier label, name): folder} from every manifest written so far."""
    out, folders = [], {}
    for tier, key in TIERS:
        p = os.path.join(OUT[key], "manifest.json")
        if os.path.exists(p):
            for e in json.load(open(p))["entries"].values():
                out.append((tier, e))
                folders[(tier, e["name"])] = os.path.join(OUT[key], e["name"])
    return out, folders


def run_inventory():
    from inventory import write_operators_md, write_readme_layouts, write_readme_tables
    manifests, folders = load_manifests()
    write_operators_md(manifests, supported_onnx_ops(), os.path.join(HERE, "OPERATORS.md"))
    write_readme_layouts(manifests, os.path.join(HERE, "README.md"), folders)
    write_readme_tables(manifests, os.path.join(HERE, "README.md"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tier", required=True, choices=["tiny", "trained", "large", "inventory"])
    ap.add_argument("--only", default="", help="comma-separated folder names (default: all of the tier)")
    ap.add_argument("--without", default="", help="trained tier: classes left out of training, e.g. 5,7")
    ap.add_argument("--threads", type=int, default=2, help="trained tier: torch threads (default 2)")
    ap.add_argument("--epochs", type=int, default=0, help="trained tier: override every model's epoch count (smoke tests)")
    ap.add_argument("--out", default="", help="output folder instead of the tier's default")
    ap.add_argument("--list", action="store_true", help="list the tier's model names and exit")
    a = ap.parse_args()
    only = set(filter(None, a.only.split(",")))
    if a.list:
        specs = {"tiny": tiny_specs, "trained": trained_specs, "large": large_specs}[a.tier]()
        for s in specs:
            print(s.name)
        return
    if only:
        known = {s.name for f in (tiny_specs, trained_specs, large_specs) for s in f()}
        unknown = only - known
        if unknown:
            sys.exit(f"unknown model name(s): {', '.join(sorted(unknown))} (see --list)")
    if a.out:
        for k in OUT:
            OUT[k] = os.path.join(os.path.abspath(a.out), k)
    if a.tier == "tiny":
        run_tiny(only)
    elif a.tier == "trained":
        without = sorted(int(c) for c in a.without.split(",") if c)
        run_trained(only, without, a.threads, a.epochs)
    elif a.tier == "large":
        run_large(only)
    else:
        run_inventory()


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    main()
