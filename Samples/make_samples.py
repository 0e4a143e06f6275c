#!/usr/bin/env python3
"""Trains the bundled sample classifiers and writes them with their data (dev-time only).

Data: scikit-learn's bundled handwritten digits (1797 real 8x8 grayscale images, 10 classes),
pixels scaled to [0, 1] (no further normalisation: models take raw pixels), split 70/30 stratified
with a fixed seed. Models, named as torchvision names their layers:
  mlp     nn.Sequential(Flatten, Linear 64-128, ReLU, Linear 128-64, ReLU, Linear 64-10)
  cnn     VGG-style with BatchNorm and max-pooling (features.*, classifier.*)
  resnet  torchvision-layout ResNet, BasicBlock [2, 2, 2], widths 16/32/64, CIFAR 3x3 stem, no max-pool
  vit     torchvision VisionTransformer layout (conv_proj, class_token, encoder.*, heads.head),
          patch 2, hidden 64, 4 heads, MLP 128, 2 layers, erf GELU; vit.config.json says the head count
          (which the state dict does not store) for `--arch`
Each model M is written as M.safetensors (state dict, metadata format=pt), M.onnx (opset 17,
TorchScript exporter, TrainingMode.PRESERVE without constant folding, so that BatchNorm stays a
BatchNormalization node and initializer names equal state-dict names; input x [N,1,8,8], output
logits [N,10], dynamic batch axis) and M.expected.npz (the first 64 test images, their labels and
PyTorch's float32 logits). The script checks every ONNX initializer against the state dict (bytes)
and onnxruntime's logits against PyTorch's, and writes accuracy.json (overall and per-class test
accuracy per model). Two runs give byte-identical files (single thread, deterministic algorithms).

Run with a PyTorch virtualenv outside the repository (CPU only):
  python3 -m venv /opt/mfvenv && /opt/mfvenv/bin/pip install torch numpy onnx onnxruntime safetensors scikit-learn
  /opt/mfvenv/bin/python Samples/make_samples.py
"""
import json, os, random
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

SEED = 20261122
here = os.path.dirname(os.path.abspath(__file__))
torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)


def seed_all(seed):
    random.seed(seed); np.random.seed(seed); torch.manual_seed(seed)


def data():
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
    y = digits.target.astype(np.int64)
    return train_test_split(x, y, test_size=0.3, stratify=y, random_state=SEED)


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(inplace=True),
            nn.Conv2d(16, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(inplace=True),
            nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Linear(32 * 2 * 2, 64), nn.ReLU(inplace=True), nn.Dropout(0.3), nn.Linear(64, 10))

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


class BasicBlock(nn.Module):
    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    def __init__(self, widths=(16, 32, 64), blocks=(2, 2, 2), classes=10, channels=1):
        super().__init__()
        self.stages = len(widths)
        self.conv1 = nn.Conv2d(channels, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        inplanes = widths[0]
        for index, (width, count) in enumerate(zip(widths, blocks)):
            layers = []
            for block in range(count):
                layers.append(BasicBlock(inplanes, width, 2 if block == 0 and index > 0 else 1))
                inplanes = width
            setattr(self, f"layer{index + 1}", nn.Sequential(*layers))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(inplanes, classes)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        for index in range(self.stages):
            x = getattr(self, f"layer{index + 1}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


class MLPBlock(nn.Sequential):
    def __init__(self, hidden, mlp):
        super().__init__(nn.Linear(hidden, mlp), nn.GELU(), nn.Dropout(0.0), nn.Linear(mlp, hidden), nn.Dropout(0.0))


class EncoderBlock(nn.Module):
    def __init__(self, hidden, heads, mlp):
        super().__init__()
        self.ln_1 = nn.LayerNorm(hidden, eps=1e-6)
        self.self_attention = nn.MultiheadAttention(hidden, heads, batch_first=True)
        self.dropout = nn.Dropout(0.0)
        self.ln_2 = nn.LayerNorm(hidden, eps=1e-6)
        self.mlp = MLPBlock(hidden, mlp)

    def forward(self, x):
        y = self.ln_1(x)
        y, _ = self.self_attention(y, y, y, need_weights=False)
        x = x + self.dropout(y)
        return x + self.mlp(self.ln_2(x))


class Encoder(nn.Module):
    def __init__(self, seq, layers, hidden, heads, mlp):
        super().__init__()
        self.pos_embedding = nn.Parameter(torch.empty(1, seq, hidden).normal_(std=0.02))
        self.dropout = nn.Dropout(0.0)
        # These blocks are built and thrown away: they only draw from the seeded generator. Kept so
        # that the committed vit.* files stay reproducible (removing them changes the initialisation).
        _ = [EncoderBlock(hidden, heads, mlp) for _ in range(layers)]
        self.layers = nn.Sequential()
        for i in range(layers):
            self.layers.add_module(f"encoder_layer_{i}", EncoderBlock(hidden, heads, mlp))
        self.ln = nn.LayerNorm(hidden, eps=1e-6)

    def forward(self, x):
        return self.ln(self.layers(self.dropout(x + self.pos_embedding)))


class ViT(nn.Module):
    def __init__(self, image=8, patch=2, layers=2, heads=4, hidden=64, mlp=128, classes=10):
        super().__init__()
        self.patch = patch
        self.hidden = hidden
        self.conv_proj = nn.Conv2d(1, hidden, patch, patch)
        self.class_token = nn.Parameter(torch.zeros(1, 1, hidden))
        self.encoder = Encoder((image // patch) ** 2 + 1, layers, hidden, heads, mlp)
        self.heads = nn.Sequential()
        self.heads.add_module("head", nn.Linear(hidden, classes))

    def forward(self, x):
        n = x.shape[0]
        x = self.conv_proj(x).reshape(n, self.hidden, -1).permute(0, 2, 1)
        x = torch.cat([self.class_token.expand(n, -1, -1), x], dim=1)
        return self.heads(self.encoder(x)[:, 0])


def train(name, model, x, y, epochs, lr, batch=64):
    seed_all(SEED)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-4)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    g = torch.Generator().manual_seed(SEED)
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(xt), generator=g)
        for start in range(0, len(xt), batch):
            idx = order[start:start + batch]
            opt.zero_grad()
            F.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
    model.eval()
    return model


def accuracy(model, x, y):
    with torch.no_grad():
        pred = model(torch.from_numpy(x)).argmax(1).numpy()
    per_class = {int(c): float((pred[y == c] == c).mean()) for c in range(10)}
    return float((pred == y).mean()), per_class


def check_onnx(path, state, xs, logits):
    """Checks the exported graph against the state dict and onnxruntime against PyTorch.

    Every state-dict tensor the graph uses must be an initializer of the same name with the same
    bytes, or the output of an Identity node on an initializer with the same bytes (the exporter
    stores bitwise-equal tensors once). `num_batches_tracked` is not used by an eval-mode graph.
    """
    import onnx, onnxruntime as ort
    from onnx import numpy_helper
    m = onnx.load(path)
    assert [i.name for i in m.graph.input] == ["x"] and [o.name for o in m.graph.output] == ["logits"]
    inits = {t.name: t for t in m.graph.initializer}
    assert all(t.data_location != onnx.TensorProto.EXTERNAL for t in inits.values()), "external data"
    identity = {n.output[0]: n.input[0] for n in m.graph.node if n.op_type == "Identity"}
    aliases, unused = {}, []
    for name, tensor in state.items():
        if name.endswith("num_batches_tracked"):
            assert name not in inits
            unused.append(name)
            continue
        source = name if name in inits else identity.get(name)
        assert source in inits, f"{path}: {name} is neither an initializer nor an Identity alias of one"
        if source != name:
            aliases[name] = source
        stored = numpy_helper.to_array(inits[source])
        assert stored.shape == tuple(tensor.shape) and stored.tobytes() == tensor.numpy().tobytes(), f"{path}: {name} differs"
    batchnorms = sum(n.op_type == "BatchNormalization" for n in m.graph.node)
    got = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"x": xs})[0]
    diff = float(np.abs(got - logits).max())
    assert diff < 1e-4, f"{path}: onnxruntime differs from PyTorch by {diff}"
    ops = sorted({n.op_type for n in m.graph.node})
    return ops, aliases, unused, batchnorms, diff


def export(name, model, x_test, y_test):
    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    save_file(state, os.path.join(here, f"{name}.safetensors"), metadata={"format": "pt"})
    path = os.path.join(here, f"{name}.onnx")
    # TrainingMode.PRESERVE on an eval-mode model exports the eval graph without the exporter's
    # eval peephole (which fuses BatchNorm into Conv when training=EVAL and constant folding is on),
    # and without constant folding (which would store the ViT's transposed weights under onnx::
    # names): BatchNormalization stays a node and initializer names stay state-dict names.
    torch.onnx.export(model, torch.from_numpy(x_test[:2]), path, dynamo=False, opset_version=17,
                      input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {0: "N"}, "logits": {0: "N"}},
                      do_constant_folding=False, training=torch.onnx.TrainingMode.PRESERVE)
    xs = x_test[:64]
    with torch.no_grad():
        logits = model(torch.from_numpy(xs)).numpy().astype(np.float32)
    np.savez(os.path.join(here, f"{name}.expected.npz"), x=xs, y=y_test[:64], logits=logits)
    return check_onnx(path, state, xs, logits)


def main():
    x_train, x_test, y_train, y_test = data()
    np.savez(os.path.join(here, "digits-train.npz"), x=x_train, y=y_train)
    np.savez(os.path.join(here, "digits-test.npz"), x=x_test, y=y_test)
    save_file({"x": torch.from_numpy(x_test), "y": torch.from_numpy(y_test)}, os.path.join(here, "digits-test.safetensors"))
    specs = [
        ("mlp", lambda: nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10)), 60, 1e-3),
        ("cnn", CNN, 40, 2e-3),
        ("resnet", ResNet, 30, 2e-3),
        ("vit", ViT, 120, 1e-3),
    ]
    report = {}
    for name, make, epochs, lr in specs:
        seed_all(SEED)
        model = train(name, make(), x_train, y_train, epochs, lr)
        acc, per_class = accuracy(model, x_test, y_test)
        ops, aliases, unused, batchnorms, ort_diff = export(name, model, x_test, y_test)
        assert batchnorms == sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()), "BatchNorm fused"
        params = sum(p.numel() for p in model.parameters())
        report[name] = {"test_accuracy": acc, "per_class_accuracy": per_class, "parameters": params,
                        "onnx_ops": ops, "state_dict_names_not_in_onnx": sorted(aliases),
                        "onnx_identity_aliases": aliases, "num_batches_tracked_not_in_onnx": len(unused),
                        "onnxruntime_max_abs_diff": ort_diff}
        print(f"{name}: params {params}, test accuracy {acc:.4f}, per class "
              + " ".join(f"{per_class[c]:.3f}" for c in range(10)))
        print(f"  onnx ops {ops}")
        print(f"  initializers equal the state dict (bytes); Identity aliases {aliases}; "
              f"not in the graph {len(unused)} num_batches_tracked; onnxruntime max abs diff {ort_diff:.2e}")
    with open(os.path.join(here, "accuracy.json"), "w") as f:
        json.dump(report, f, indent=2, sort_keys=True)
        f.write("\n")
    # torchvision's ViT state dict does not store the head count: a config for `--arch` gives it.
    with open(os.path.join(here, "vit.config.json"), "w") as f:
        json.dump({"num_heads": 4}, f)
        f.write("\n")


if __name__ == "__main__":
    main()
