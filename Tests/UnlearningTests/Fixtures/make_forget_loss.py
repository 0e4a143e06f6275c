#!/usr/bin/env python3
"""Reference for the PGU loss (docs/methods.md §3.3) and its gradient, by PyTorch autograd in float64.

Writes forget_loss.npz: logits [12, 10] (float32, some saturated rows), labels [12] (int64),
loss (float64 scalar) and gradient [12, 10] (float64, ∂L/∂logits).
Run: /opt/mfvenv/bin/python Tests/UnlearningTests/Fixtures/make_forget_loss.py
"""
import os
import numpy as np
import torch

rng = np.random.default_rng(11)
logits = (rng.standard_normal((12, 10)) * 3).astype(np.float32)
logits[0, 4] = 25.0      # a confident row: p_y ≈ 1
logits[1, :] = 0.0       # a uniform row
labels = rng.integers(0, 10, 12)
labels[0] = 4
z = torch.tensor(logits, dtype=torch.float64, requires_grad=True)
p = torch.softmax(z, dim=1)
py = p[torch.arange(12), torch.tensor(labels)]
loss = (-torch.log(1 + 0.05 - py)).mean() + 0.2 * (p * torch.log(p + 1e-15)).sum(1).mean()
loss.backward()
np.savez(os.path.join(os.path.dirname(os.path.abspath(__file__)), "forget_loss.npz"),
         logits=logits, labels=labels.astype(np.int64), loss=np.float64(loss.item()), gradient=z.grad.numpy())
