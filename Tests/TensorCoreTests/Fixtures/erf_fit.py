#!/usr/bin/env python3
"""Coefficients of Elementwise.rationalErf: erf(x) ≈ x·P(x²)/Q(x²), P and Q of degree 5, |x| ≤ 3.925.

Fits g(t) = erf(√t)/√t ≈ P(t)/Q(t) (Q(0) = 1) by linearised least squares on the relative error
(Sanathanan–Koerner iterations, reweighted toward the largest errors), then reports the error of the
float32 evaluation the Swift code performs (Horner, clamp, ±1 clamp). Dev-time only (numpy, scipy):

    /opt/mfvenv/bin/python Tests/TensorCoreTests/Fixtures/erf_fit.py
"""
import numpy as np
from scipy.special import erf

LIMIT = 3.925   # erf(3.925) = 1 − 2.5e-8: beyond it float32 erf is ±1 to within half an ulp


def fit(m=5, n=5, iterations=30):
    x = np.linspace(1e-4, LIMIT, 20000)
    t, g = x * x, erf(x) / x
    weight = np.ones_like(t)
    for it in range(iterations):
        a = np.hstack([np.vstack([t ** k for k in range(m + 1)]).T, -np.vstack([g * t ** k for k in range(1, n + 1)]).T])
        w = (weight / g)[:, None]
        coef, *_ = np.linalg.lstsq(a * w, g * w[:, 0], rcond=None)
        p, q = coef[: m + 1], np.concatenate([[1.0], coef[m + 1:]])
        big_q = np.polyval(q[::-1], t)
        err = (np.polyval(p[::-1], t) / big_q - g) / g
        weight = (1 / np.abs(big_q)) * (1 + np.abs(err) / np.abs(err).max() * it / iterations * 4)
    return p, q, np.abs(err).max()


def float32_erf(x, p, q):
    c = np.clip(x, -LIMIT, LIMIT).astype(np.float32)
    t = (c * c).astype(np.float32)
    def horner(coefficients):
        acc = np.full_like(t, np.float32(coefficients[-1]))
        for k in coefficients[-2::-1]:
            acc = (acc * t + np.float32(k)).astype(np.float32)
        return acc
    return np.clip((c * horner(p) / horner(q)).astype(np.float32), -1, 1)


if __name__ == "__main__":
    p, q, fitted = fit()
    x = np.linspace(-8, 8, 4_000_001).astype(np.float32)
    exact = erf(x.astype(np.float64))
    approx = float32_erf(x, p, q).astype(np.float64)
    nonzero = exact != 0
    print(f"float64 fit: max relative error {fitted:.2e}")
    print(f"float32 evaluation: max absolute error {np.abs(approx - exact).max():.2e}, "
          f"max relative error {np.abs((approx - exact)[nonzero] / exact[nonzero]).max():.2e}")
    print("P (t⁰ … t⁵):", ", ".join(repr(float(v)) for v in p))
    print("Q (t⁰ … t⁵):", ", ".join(repr(float(v)) for v in q))
