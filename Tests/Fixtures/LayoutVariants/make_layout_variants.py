#!/usr/bin/env python3
"""Makes the layout-variant fixtures: tiny checkpoints of variants the real-model zoo
(Tests/Fixtures/RealModels, Benchmarks/real_models) does not cover, each built by its library's own
model code and saved the way that library saves it, with PyTorch's eval-mode logits.

Dev-time only (needs the PyTorch venv):
    /work/venv/bin/python make_layout_variants.py [--only a,b] [--dev-root /tmp/layout-dev]
(--dev-root also makes full-size models, too large to commit, for development checks.)

Per folder: model.safetensors, config.json (timm: save_for_hf; transformers: save_pretrained;
torchvision: none), expected.npz (x: 4 seeded N(0,1) samples 3x32x32, or the size in INPUT_SIZE;
logits: float32).
Weights are made "trained-like" so that every tensor matters: constant tensors after init get
random values, kernels N(0, 1/fan_in), BatchNorm statistics measured on seeded batches.
"""
import argparse, math, os, shutil, sys, zlib

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 20261206
LABELS = [str(i) for i in range(10)]
# Inputs of another size than 32x32, for TensorFlow SAME padding at odd sizes.
INPUT_SIZE = {"timm-tf-efficientnet-tiny": (33, 35), "transformers-mobilenet-v2-odd-input": (31, 29)}


def timm_model(name, **kwargs):
    import timm
    return timm.create_model(name, num_classes=10, **kwargs), "timm"


def timm_built(generator, name, **kwargs):
    """A timm model from its module's generator function (for multipliers the registered
    factories fix); the config's architecture is the registered name the layout is built like."""
    return generator(name, pretrained=False, num_classes=10, **kwargs), "timm"


def transformers_model(config_class, model_class, **kwargs):
    config = config_class(num_labels=10, id2label={i: l for i, l in enumerate(LABELS)},
                          label2id={l: i for i, l in enumerate(LABELS)}, **kwargs)
    return model_class(config), "transformers"


def torchvision_model(build):
    return build(), "torchvision"


def variants():
    import timm.models.efficientnet as effnet
    import timm.models.mobilenetv3 as mnv3
    import torchvision.models as tvm
    from transformers import ResNetConfig, ResNetForImageClassification
    from transformers import MobileNetV2Config, MobileNetV2ForImageClassification
    from torchvision.models.efficientnet import EfficientNet, FusedMBConvConfig, MBConvConfig
    return {
        # torchvision EfficientNetV2-S's stage table (FusedMBConv in the first three stages) at tiny
        # widths, built from the class (so BatchNorm eps is the class default 1e-5).
        "torchvision-efficientnet-v2-tiny": lambda: torchvision_model(lambda: EfficientNet(
            [FusedMBConvConfig(1, 3, 1, 8, 8, 2), FusedMBConvConfig(4, 3, 2, 8, 16, 1), FusedMBConvConfig(4, 3, 2, 16, 16, 1),
             MBConvConfig(4, 3, 2, 16, 24, 1, 1.0, 1.0), MBConvConfig(6, 3, 1, 24, 24, 2, 1.0, 1.0), MBConvConfig(6, 3, 2, 24, 32, 1, 1.0, 1.0)],
            dropout=0.2, last_channel=64, num_classes=10)),
        # timm's TensorFlow port of EfficientNet-B0 (SAME padding, BatchNorm eps 1e-3, which the
        # tf_ factories set and config.json does not record) at multipliers 0.25 / 0.3.
        "timm-tf-efficientnet-tiny": lambda: timm_built(effnet._gen_efficientnet, "tf_efficientnet_b0", channel_multiplier=0.25,
                                                         depth_multiplier=0.3, bn_eps=1e-3, pad_type="same"),
        # torchvision MobileNetV3-Large at width 0.1 (the committed zoo has the Small one).
        "torchvision-mobilenet-v3-large": lambda: torchvision_model(lambda: tvm.mobilenet_v3_large(width_mult=0.1, num_classes=10)),
        # timm MobileNetV3-Large (pool before conv_head) at channel multiplier 0.1 (the 1280-wide head
        # is fixed).
        "timm-mobilenetv3-large": lambda: timm_built(mnv3._gen_mobilenet_v3, "mobilenetv3_large_100", channel_multiplier=0.1),
        # transformers MobileNetV2 with the other switches: no TF padding, an expansion in the stem,
        # output stride 8 (dilated later layers), ReLU, eps 1e-5.
        "transformers-mobilenet-v2-switches": lambda: transformers_model(
            MobileNetV2Config, MobileNetV2ForImageClassification, depth_multiplier=0.15, image_size=32, finegrained_output=False,
            tf_padding=False, first_layer_is_expansion=False, output_stride=8, hidden_act="relu", layer_norm_eps=1e-5),
        # transformers MobileNetV2 as in the zoo (tf_padding on), run on 31x29 inputs.
        "transformers-mobilenet-v2-odd-input": lambda: transformers_model(
            MobileNetV2Config, MobileNetV2ForImageClassification, depth_multiplier=0.15, image_size=32, finegrained_output=False),
        # timm ResNet-D (deep stem, avg_down shortcut) with grouped 3x3 convs (ResNeXt).
        "timm-resnext-d": lambda: timm_model("resnext50d_32x4d", layers=(1, 2, 1, 1), channels=(8, 16, 32, 64),
                                             cardinality=2, base_width=32, stem_width=8),
        # transformers ResNet with every switch flipped: stride in the first stage and in the
        # bottleneck's first 1x1, GELU, two blocks in the first stage.
        "transformers-resnet-switches": lambda: transformers_model(
            ResNetConfig, ResNetForImageClassification, embedding_size=8, hidden_sizes=[16, 32, 64, 128],
            depths=[2, 1, 1, 1], layer_type="bottleneck", downsample_in_first_stage=True,
            downsample_in_bottleneck=True, hidden_act="gelu"),
    }


def dev_variants():
    """Full-size models for development checks (not committed; written to --dev-root)."""
    import torchvision.models as tvm
    import timm.models.mobilenetv3 as mnv3
    return {
        # timm's TensorFlow port of MobileNetV3-Large (SAME padding, eps 1e-3) at multiplier 0.25.
        "timm-tf-mobilenetv3-large": lambda: timm_built(mnv3._gen_mobilenet_v3, "tf_mobilenetv3_large_075", channel_multiplier=0.25,
                                                        bn_eps=1e-3, pad_type="same"),
        "torchvision-efficientnet-b5": lambda: torchvision_model(lambda: tvm.efficientnet_b5(num_classes=10)),
        "torchvision-efficientnet-v2-s": lambda: torchvision_model(lambda: tvm.efficientnet_v2_s(num_classes=10)),
    }


def seed_for(name):
    return (SEED + zlib.crc32(name.encode())) % (2 ** 31)


def trained_like(model, generator, size):
    with torch.no_grad():
        for name, t in model.named_parameters():
            flat = t.reshape(-1)
            if bool((flat == flat[0]).all()):
                t.copy_(torch.randn(t.shape, generator=generator) * 0.1 if float(flat[0]) == 0 else torch.rand(t.shape, generator=generator) + 0.5)
            elif t.ndim >= 2:
                t.copy_(torch.randn(t.shape, generator=generator) / math.sqrt(t[0].numel()))
        norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        model.eval()
        for m in norms:
            m.reset_running_stats(); m.momentum = None; m.train()
        for _ in range(4):
            model(torch.randn(16, 3, *size, generator=generator))
    model.eval()


def logits_of(model, x):
    with torch.no_grad():
        out = model(x)
    return (out.logits if hasattr(out, "logits") else out).float().numpy()


def save(name, model, library, root):
    folder = os.path.join(root, name)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    if library == "timm":
        import timm
        model.pretrained_cfg = dict(model.pretrained_cfg, input_size=(3, 32, 32), crop_pct=1.0, num_classes=10)
        timm.models.save_for_hf(model, folder, safe_serialization=True, model_config={"label_names": LABELS})
    elif library == "transformers":
        model.save_pretrained(folder)
    else:
        from safetensors.torch import save_file
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, os.path.join(folder, "model.safetensors"))
    return folder


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="")
    parser.add_argument("--dev-root", default="", help="also make the full-size development models there")
    arguments = parser.parse_args()
    only = set(filter(None, arguments.only.split(",")))
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    todo = [(name, make, HERE) for name, make in variants().items()]
    if arguments.dev_root:
        todo += [(name, make, arguments.dev_root) for name, make in dev_variants().items()]
    for name, make, root in todo:
        if only and name not in only:
            continue
        torch.manual_seed(seed_for(name))
        model, library = make()
        generator = torch.Generator().manual_seed(seed_for(name))
        trained_like(model, generator, INPUT_SIZE.get(name, (32, 32)))
        folder = save(name, model, library, root)
        x = torch.randn(4, 3, *INPUT_SIZE.get(name, (32, 32)), generator=generator)
        logits = logits_of(model, x)
        np.savez(os.path.join(folder, "expected.npz"), x=x.numpy(), logits=logits)
        spread = logits.std(axis=0).mean() / logits.std(axis=1).mean()
        print(f"{name}: {sum(p.numel() for p in model.parameters())} parameters, logits max {np.abs(logits).max():.3g}, input sensitivity {spread:.2f}")


if __name__ == "__main__":
    sys.exit(main())
