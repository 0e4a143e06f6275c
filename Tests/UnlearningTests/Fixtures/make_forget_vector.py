#!/usr/bin/env python3
"""Reference for the forget-vector loss (docs/methods.md §4.2) and ∂L/∂δ, by PyTorch autograd.

The sample CNN (Samples/cnn.safetensors), a fixed mixed batch of the first 6 training samples of
class 3 (forget) and the first 10 of the other classes (retain), and a seeded δ (normal, σ 0.3).
L = (α Σ_retain CE + β Σ_forget max(z_y − max_{c≠y} z_c, −τ) + λ ‖δ‖₂) / B with τ 1, α 1, β 3, λ 1.
Writes forget_vector.npz: indices [16] (int64), delta [1, 8, 8] (float32), loss (float64), gradient [1, 8, 8] (float64).
Run: /opt/mfvenv/bin/python Tests/UnlearningTests/Fixtures/make_forget_vector.py
"""
import os, sys
import numpy as np
import torch
from safetensors.torch import load_file

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(os.path.dirname(os.path.dirname(here)))
sys.path.insert(0, os.path.join(root, "Samples"))
import make_samples  # noqa: E402

model = make_samples.CNN().double()
model.load_state_dict({k: v.double() if v.is_floating_point() else v for k, v in load_file(os.path.join(root, "Samples/cnn.safetensors")).items()})
model.eval()
train = np.load(os.path.join(root, "Samples/digits-train.npz"))
y = train["y"]
indices = np.concatenate([np.nonzero(y == 3)[0][:6], np.nonzero(y != 3)[0][:10]])
x = torch.tensor(train["x"][indices], dtype=torch.float64)
labels = torch.tensor(y[indices])
delta0 = (np.random.default_rng(5).standard_normal(train["x"].shape[1:]) * 0.3).astype(np.float32)
delta = torch.tensor(delta0, dtype=torch.float64, requires_grad=True)
z = model(x + delta)
forget = labels == 3
zy = z[torch.arange(len(labels)), labels]
others = z.clone()
others[torch.arange(len(labels)), labels] = -float("inf")
margin = zy - others.max(1).values
ce = torch.nn.functional.cross_entropy(z, labels, reduction="none")
loss = (1.0 * ce[~forget].sum() + 3.0 * torch.clamp(margin[forget], min=-1.0).sum() + 1.0 * delta.norm()) / len(labels)
loss.backward()
np.savez(os.path.join(here, "forget_vector.npz"), indices=indices.astype(np.int64), delta=delta0,
         loss=np.float64(loss.item()), gradient=delta.grad.numpy())
print("loss", loss.item())
