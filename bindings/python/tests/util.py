"""Helpers shared by the binding tests: independent numpy references."""

import os
import shutil
import tempfile
import unittest

import numpy as np


def screenot_reference(values, gamma, k, strategy="impute"):
    """ScreeNOT straight from the paper (DESIGN.md section 1), in numpy, by bisection."""
    y = np.sort(np.asarray(values, dtype=np.float64))
    p = y.size
    fz = y.copy()
    if k > 0:
        if strategy == "impute":
            for l in range(1, k + 1):
                a = (1.0 - ((l - 1) / k) ** (2.0 / 3.0)) / (2.0 ** (2.0 / 3.0) - 1.0)
                fz[p - l] = fz[p - k - 1] + a * (fz[p - k - 1] - fz[p - 2 * k - 1])
        elif strategy == "winsorize":
            fz[p - k:] = fz[p - k - 1]
        else:
            fz[p - k:] = 0.0
    z2 = fz * fz

    def psi(t):
        d = t * t - z2
        phi = np.mean(t / d)
        dphi = np.mean(-(t * t + z2) / (d * d))
        big_d = phi * (gamma * phi + (1 - gamma) / t)
        dd = dphi * (gamma * phi + (1 - gamma) / t) + phi * (gamma * dphi - (1 - gamma) / (t * t))
        return t * dd / big_d

    lo = fz.max() * (1 + 1e-12)
    hi = 2 * fz.max()
    while psi(hi) < -4:
        lo, hi = hi, 2 * hi
    while (hi - lo) > 1e-14 * hi:
        mid = 0.5 * (lo + hi)
        if psi(mid) < -4:
            lo = mid
        else:
            hi = mid
    thr = 0.5 * (lo + hi)
    return thr, int(np.sum(y > thr))


def spiked(rng, n, m, spikes, noise=1.0):
    """Singular values of a spiked n x m matrix: sum_i s_i u_i v_i^T + white noise / sqrt(m)."""
    x = rng.standard_normal((n, m)) * noise / np.sqrt(m)
    for s in spikes:
        u = rng.standard_normal(n)
        v = rng.standard_normal(m)
        x += s * np.outer(u / np.linalg.norm(u), v / np.linalg.norm(v))
    return np.linalg.svd(x, compute_uv=False)


def planted_pairs(rng, n_pairs, n_layers, dim, rank, scale=4.0, noise=0.05, shared=3.0):
    """X- = X+ + (a known rank-r subspace) + noise, plus a direction shared by all sentences.

    Returns (preferred, dispreferred, true_bases) with arrays (n_pairs, n_layers, dim)
    and true_bases[l] (rank, dim) orthonormal.
    """
    pref = np.empty((n_pairs, n_layers, dim), dtype=np.float32)
    disp = np.empty_like(pref)
    bases = []
    for l in range(n_layers):
        # the shared direction is orthogonal to the planted subspace
        q, _ = np.linalg.qr(rng.standard_normal((dim, rank + 1)))
        v = q[:, 1:].T  # (rank, dim)
        bases.append(v)
        common = q[:, 0] * shared
        x = rng.standard_normal((n_pairs, dim)) * 0.3 + common
        coeff = rng.standard_normal((n_pairs, rank)) * scale
        pref[:, l, :] = x
        disp[:, l, :] = x + coeff @ v + rng.standard_normal((n_pairs, dim)) * noise
    return pref, disp, bases


def reference_subspace(pref, disp, centering, k):
    """(singular values, top-k basis) of T = (X+ - X-)/2 centred as DESIGN.md says."""
    pref = pref.astype(np.float64)
    t = (pref - disp.astype(np.float64)) / 2
    if centering == "mean":
        u = pref.mean(axis=0)
        u /= np.linalg.norm(u)
        t = t - np.outer(t @ u, u)
    elif centering == "top-singular":
        u = np.linalg.svd(pref, full_matrices=False)[2][0]
        t = t - np.outer(t @ u, u)
    _, s, vt = np.linalg.svd(t, full_matrices=False)
    return s, vt[:k]


def projector_distance(a, b):
    """Largest entry of |A^T A - B^T B|: 0 when the row spaces agree."""
    return np.abs(a.T.astype(np.float64) @ a - b.T.astype(np.float64) @ b).max()


class TempDirTest(unittest.TestCase):
    def setUp(self):
        base = os.environ.get("PROFS_TEST_TMP")
        self.tmp = tempfile.mkdtemp(prefix="pytest.", dir=base)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.tmp, name)
