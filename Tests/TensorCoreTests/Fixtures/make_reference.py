#!/usr/bin/env python3
"""Reference values for TensorCore's forward kernels, computed independently with NumPy.

Writes reference.json next to this script: a list of cases, each with a name, named float inputs
({"shape": [...], "data": [...]}, float32 values) and the expected output. The Swift tests
(ReferenceTests.swift) build the matching operator for each case name and compare.

Run: python3 Tests/TensorCoreTests/Fixtures/make_reference.py   (numpy only; deterministic)
"""
import json
import math
import os

import numpy as np

rng = np.random.default_rng(20261123)


def rand(*shape, low=-1.5, high=1.5):
    return rng.uniform(low, high, size=shape).astype(np.float32)


def enc(a):
    a = np.asarray(a, dtype=np.float32)
    # 9 significant digits round-trip float32 exactly.
    return {"shape": list(a.shape), "data": [float("%.9g" % v) for v in a.reshape(-1)]}


def conv2d(x, w, b=None, stride=(1, 1), pads=(0, 0, 0, 0), dilation=(1, 1), groups=1):
    """Direct (loop) convolution in float64: x [N,C,H,W], w [M,C/g,kh,kw], pads top,left,bottom,right."""
    x = x.astype(np.float64)
    w = w.astype(np.float64)
    n, c, h, wd = x.shape
    m, cg, kh, kw = w.shape
    top, left, bottom, right = pads
    xp = np.zeros((n, c, h + top + bottom, wd + left + right))
    xp[:, :, top:top + h, left:left + wd] = x
    oh = (h + top + bottom - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + left + right - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    y = np.zeros((n, m, oh, ow))
    mg = m // groups
    for o in range(m):
        g = o // mg
        for i in range(oh):
            for j in range(ow):
                acc = np.zeros(n)
                for ci in range(cg):
                    for a in range(kh):
                        for bb in range(kw):
                            acc += xp[:, g * cg + ci, i * stride[0] + a * dilation[0], j * stride[1] + bb * dilation[1]] * w[o, ci, a, bb]
                y[:, o, i, j] = acc
    if b is not None:
        y += b.astype(np.float64)[None, :, None, None]
    return y


def pool2d(x, k, stride, pads, mode, ceil_mode=False, count_include_pad=False):
    n, c, h, w = x.shape
    top, left, bottom, right = pads

    def out(size, pa, pb, kk, s):
        span = size + pa + pb - kk
        o = (-(-span // s) if ceil_mode else span // s) + 1
        if ceil_mode and (o - 1) * s >= size + pa:
            o -= 1
        return o

    oh, ow = out(h, top, bottom, k[0], stride[0]), out(w, left, right, k[1], stride[1])
    y = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            y0, x0 = i * stride[0] - top, j * stride[1] - left
            ys = [r for r in range(y0, y0 + k[0]) if 0 <= r < h]
            xs = [q for q in range(x0, x0 + k[1]) if 0 <= q < w]
            window = x[:, :, ys][:, :, :, xs].astype(np.float64)
            if mode == "max":
                y[:, :, i, j] = window.max(axis=(2, 3))
            else:
                if count_include_pad:
                    rows = min(y0 + k[0], h + bottom) - max(y0, -top)
                    cols = min(x0 + k[1], w + right) - max(x0, -left)
                    count = rows * cols
                else:
                    count = len(ys) * len(xs)
                y[:, :, i, j] = window.sum(axis=(2, 3)) / count
    return y


def softmax(z, axis):
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def layer_norm(x, scale, bias, axis, eps):
    axes = tuple(range(axis, x.ndim))
    x = x.astype(np.float64)
    mu = x.mean(axis=axes, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * scale + bias


erf = np.vectorize(math.erf)


def mha(x, w_in, b_in, w_out, b_out, heads, batch_first):
    """PyTorch nn.MultiheadAttention (self-attention, no mask) in float64."""
    x = x.astype(np.float64)
    if not batch_first:
        x = x.transpose(1, 0, 2)
    n, l, e = x.shape
    d = e // heads
    qkv = x @ w_in.T.astype(np.float64) + b_in
    q, k, v = qkv[..., :e], qkv[..., e:2 * e], qkv[..., 2 * e:]
    split = lambda t: t.reshape(n, l, heads, d).transpose(0, 2, 1, 3)
    q, k, v = split(q), split(k), split(v)
    p = softmax(q @ k.transpose(0, 1, 3, 2) / math.sqrt(d), axis=-1)
    o = (p @ v).transpose(0, 2, 1, 3).reshape(n, l, e)
    y = o @ w_out.T.astype(np.float64) + b_out
    return y if batch_first else y.transpose(1, 0, 2)


cases = []


def add(name, inputs, output, **extra):
    case = {"name": name, "inputs": {k: enc(v) for k, v in inputs.items()}, "output": enc(output)}
    case.update(extra)
    cases.append(case)


# Convolutions
x, w, b = rand(2, 3, 7, 6), rand(4, 3, 3, 3), rand(4)
add("conv_stride2_pad1", {"x": x, "w": w, "b": b}, conv2d(x, w, b, stride=(2, 2), pads=(1, 1, 1, 1)))
x, w = rand(1, 4, 6, 7), rand(6, 2, 3, 2)
add("conv_groups2_dilation2_asymmetric", {"x": x, "w": w}, conv2d(x, w, None, stride=(1, 2), pads=(2, 0, 1, 1), dilation=(2, 1), groups=2))
x, w, b = rand(2, 4, 5, 5), rand(4, 1, 3, 3), rand(4)
add("conv_depthwise", {"x": x, "w": w, "b": b}, conv2d(x, w, b, pads=(1, 1, 1, 1), groups=4))
x, w, b = rand(2, 3, 9), rand(5, 3, 3), rand(5)
y1 = conv2d(x[:, :, None, :], w[:, :, None, :], b, stride=(1, 2), pads=(0, 2, 0, 1), dilation=(1, 2))[:, :, 0, :]
add("conv1d_stride2_dilation2", {"x": x, "w": w, "b": b}, y1)

# Pooling
x = rand(2, 2, 7, 7)
add("maxpool_ceil", {"x": x}, pool2d(x, (3, 3), (2, 2), (0, 0, 0, 0), "max", ceil_mode=True))
x = rand(1, 3, 6, 5)
add("maxpool_pad", {"x": x}, pool2d(x, (3, 3), (2, 2), (1, 1, 1, 1), "max"))
x = rand(1, 2, 5, 6)
add("avgpool_exclude_pad", {"x": x}, pool2d(x, (3, 3), (2, 2), (1, 1, 1, 1), "avg"))
add("avgpool_include_pad", {"x": x}, pool2d(x, (3, 3), (2, 2), (1, 1, 1, 1), "avg", count_include_pad=True))
add("avgpool_include_pad_ceil", {"x": x}, pool2d(x, (2, 2), (2, 2), (0, 0, 0, 0), "avg", ceil_mode=True, count_include_pad=True))

# Normalisation, activations
x, s, bb = rand(2, 3, 8), rand(8), rand(8)
add("layernorm_last_axis", {"x": x, "scale": s, "bias": bb}, layer_norm(x, s, bb, 2, 1e-5))
x, s, bb = rand(2, 3, 4), rand(3, 4), rand(3, 4)
add("layernorm_two_axes", {"x": x, "scale": s, "bias": bb}, layer_norm(x, s, bb, 1, 1e-3))
x = rand(4, 7, low=-4, high=4)
add("gelu_erf", {"x": x}, 0.5 * x.astype(np.float64) * (1 + erf(x.astype(np.float64) / math.sqrt(2))))
xd = x.astype(np.float64)
add("gelu_tanh", {"x": x}, 0.5 * xd * (1 + np.tanh(math.sqrt(2 / math.pi) * (xd + 0.044715 * xd ** 3))))
add("erf", {"x": x}, erf(xd))
x, sc, bi, mu, var = rand(2, 3, 2, 2), rand(3), rand(3), rand(3), rand(3, low=0.2, high=2)
add("batchnorm", {"x": x, "scale": sc, "bias": bi, "mean": mu, "var": var},
    (x - mu[None, :, None, None]) / np.sqrt(var[None, :, None, None] + 1e-5) * sc[None, :, None, None] + bi[None, :, None, None])
x = rand(2, 3, 4, low=-5, high=5)
add("softmax_axis1", {"x": x}, softmax(x.astype(np.float64), 1))

# Products
a, bm = rand(2, 1, 3, 4), rand(3, 4, 5)
add("matmul_broadcast", {"a": a, "b": bm}, np.matmul(a.astype(np.float64), bm))
a, bm, c = rand(4, 3), rand(5, 4), rand(5)
add("gemm_transA_transB", {"a": a, "b": bm, "c": c}, 0.5 * a.T.astype(np.float64) @ bm.T + 2.0 * c)

# Attention (PyTorch nn.MultiheadAttention semantics)
e, heads = 8, 2
x = rand(3, 2, e)   # [L, N, E]
w_in, b_in, w_out, b_out = rand(3 * e, e, low=-0.5, high=0.5), rand(3 * e), rand(e, e, low=-0.5, high=0.5), rand(e)
add("attention_seq_first", {"x": x, "w_in": w_in, "b_in": b_in, "w_out": w_out, "b_out": b_out}, mha(x, w_in, b_in, w_out, b_out, heads, False))
x = rand(2, 5, e)   # [N, L, E]
add("attention_batch_first_4_heads", {"x": x, "w_in": w_in, "b_in": b_in, "w_out": w_out, "b_out": b_out},
    mha(x, w_in, b_in, w_out, b_out, 4, True))

# Activations of MobileNetV2/V3 exports (ReLU6 as Clip, HardSigmoid with PyTorch's alpha, HardSwish)
x = rand(3, 8, low=-8, high=8)
xd = x.astype(np.float64)
add("clip_relu6", {"x": x}, np.clip(xd, 0, 6))
add("clip_lower_only", {"x": x}, np.maximum(xd, -1.25))
add("hardsigmoid_pytorch", {"x": x}, np.clip(xd + 3, 0, 6) / 6)             # torch.nn.Hardsigmoid
add("hardsigmoid_onnx_default", {"x": x}, np.clip(0.2 * xd + 0.5, 0, 1))    # ONNX alpha 0.2, beta 0.5
add("hardswish", {"x": x}, xd * np.clip(xd + 3, 0, 6) / 6)                  # torch.nn.Hardswish

# Pad: the amounts [begin..., end...]; negative amounts crop (numpy has no negative pads: crop after).
def pad(a, begins, ends, mode, value=0.0):
    widths = [(max(b, 0), max(e, 0)) for b, e in zip(begins, ends)]
    kwargs = {"constant_values": value} if mode == "constant" else {}
    y = np.pad(a.astype(np.float64), widths, mode=mode, **kwargs)
    crop = tuple(slice(-min(b, 0), y.shape[i] + min(e, 0)) for i, (b, e) in enumerate(zip(begins, ends)))
    return y[crop]


x = rand(2, 3, 4, 5)
add("pad_constant_tf_same", {"x": x}, pad(x, [0, 0, 0, 1], [0, 0, 1, 1], "constant"))       # transformers' tf_padding
add("pad_constant_value_crop", {"x": x}, pad(x, [0, 1, -1, 2], [1, 0, 2, -2], "constant", value=0.75))
add("pad_reflect", {"x": x}, pad(x, [0, 0, 3, 2], [0, 0, 2, 6], "reflect"))                   # 6 ≥ 5: reflects twice
add("pad_edge", {"x": x}, pad(x, [1, 0, 2, 0], [0, 2, 1, 3], "edge"))
add("pad_wrap", {"x": x}, pad(x, [0, 0, 1, 7], [0, 0, 5, 2], "wrap"))

# ReduceMean with the axes as an input (opset 18 on): global average pooling as the dynamo exporter writes it.
x = rand(2, 3, 4, 5)
add("reducemean_axes_input", {"x": x}, x.astype(np.float64).mean(axis=(-1, -2), keepdims=True))

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference.json")
with open(path, "w") as f:
    json.dump({"generator": "make_reference.py", "numpy": np.__version__, "cases": cases}, f, separators=(",", ":"))
print(f"wrote {len(cases)} cases to {path}")
