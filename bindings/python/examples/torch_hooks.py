#!/usr/bin/env python3
"""ProFS with PyTorch: collect hidden states with forward hooks, estimate, edit.

This is how a host that already runs its model in PyTorch (on a GPU, in a
training stack, ...) uses libprofs: the model stays in PyTorch; forward hooks
capture each block's output, the host mean-pools it over the real tokens
(padding excluded) and pushes the pooled pairs into a profs.Collector. libprofs
estimates each layer's subspace (centering, SVD, ScreeNOT) and projects it out
of the MLP value matrix -- here directly in the torch weights, which share
memory with numpy.

A tiny model is built in this script so that it runs anywhere in a second:

    PYTHONPATH=bindings/python PROFS_LIBRARY=build/libprofs.so.0 \\
        /usr/bin/python3 bindings/python/examples/torch_hooks.py

For a Hugging Face model, hook `model.transformer.h[i]` (GPT-2) or
`model.model.layers[i]` (Llama/Mistral) the same way: the block's output
(element 0 of the returned tuple) is the residual stream after block i,
without the final norm, which is what ProFS wants.
"""

import os
import sys

import numpy as np
import torch
from torch import nn

try:
    import profs
except ImportError:  # run from a source checkout without PYTHONPATH
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    import profs

torch.manual_seed(0)
VOCAB, DIM, HIDDEN, LAYERS = 64, 32, 128, 4
TOXIC = range(48, 64)  # token ids the "dispreferred" sentences use


class Block(nn.Module):
    """Pre-norm residual block with an MLP (attention left out for brevity)."""

    def __init__(self):
        super().__init__()
        self.norm = nn.LayerNorm(DIM)
        self.up = nn.Linear(DIM, HIDDEN)
        self.down = nn.Linear(HIDDEN, DIM)  # the MLP value matrix: weight [out=D, in=F]

    def forward(self, x):
        return x + self.down(torch.relu(self.up(self.norm(x))))


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.blocks = nn.ModuleList(Block() for _ in range(LAYERS))

    def forward(self, ids):
        x = self.embed(ids)
        for b in self.blocks:
            x = b(x)
        return x


def sentence_pairs(rng, n):
    """n preference pairs as padded id batches (ids, mask) for each side.

    The dispreferred sentence is the preferred one with a third of its tokens
    replaced by TOXIC ids: the pair differs only in its "toxic" content.
    """
    lens = rng.integers(5, 12, size=n)
    pref = np.zeros((n, lens.max()), dtype=np.int64)
    mask = np.zeros_like(pref)
    for i, length in enumerate(lens):
        pref[i, :length] = rng.integers(0, TOXIC.start, size=length)
        mask[i, :length] = 1
    disp = pref.copy()
    for i, length in enumerate(lens):
        pos = rng.choice(length, size=max(1, length // 3), replace=False)
        disp[i, pos] = rng.choice(list(TOXIC), size=pos.size)
    m = torch.from_numpy(mask)
    return (torch.from_numpy(pref), m), (torch.from_numpy(disp), m)


def pooled_states(model, ids, mask):
    """(batch, LAYERS, DIM) float32: each block's output mean-pooled over real tokens."""
    captured = []
    hooks = [b.register_forward_hook(lambda mod, inp, out: captured.append(out))
             for b in model.blocks]
    try:
        with torch.no_grad():
            model(ids)
    finally:
        for h in hooks:
            h.remove()
    m = mask.unsqueeze(-1).to(torch.float32)
    pooled = [(h * m).sum(1) / m.sum(1) for h in captured]       # LAYERS x (batch, DIM)
    return torch.stack(pooled, dim=1).cpu().contiguous().numpy()  # C-contiguous float32


def main():
    rng = np.random.default_rng(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"   # the model may live on a GPU
    model = TinyLM().eval()
    with torch.no_grad():  # the toxic tokens share a two-dimensional "toxicity" component
        toxic_dirs = torch.randn(2, DIM)
        model.embed.weight[TOXIC.start:] += torch.randn(len(TOXIC), 2) @ toxic_dirs
    model.to(device)
    n_pairs = 200

    # 1. Collect: preferred (neutral) and dispreferred (toxic) sentences, as pairs.
    with profs.Collector(LAYERS, DIM) as collector:
        for start in range(0, n_pairs, 50):
            pref_batch, disp_batch = sentence_pairs(rng, 50)
            pref = pooled_states(model, *(t.to(device) for t in pref_batch))
            disp = pooled_states(model, *(t.to(device) for t in disp_batch))
            collector.add_pairs(pref, disp)   # (50, LAYERS, DIM) each; no copy made
        print("collected", collector)

        # 2. Estimate each layer's subspace with ScreeNOT (rank at most 8).
        estimator = profs.Estimator(centering="mean", rank="screenot", rank_max=8)
        subspaces = [estimator.estimate(collector, layer) for layer in range(LAYERS)]

    # 3. Edit: project layer l's subspace out of block l's MLP value matrix, in place.
    for layer, sub in enumerate(subspaces):
        w = model.blocks[layer].down.weight.data   # torch tensor [DIM, HIDDEN]
        w_cpu = w.cpu()                             # on a CPU model: the same tensor, no copy
        w_np = w_cpu.numpy()                        # shares memory with w_cpu
        norm = profs.project(w_np, sub, layout="d_first")
        if w_cpu.data_ptr() != w.data_ptr():        # a GPU model: copy the edit back
            w.copy_(w_cpu)
        # The MLP can no longer write into the subspace.
        left = np.abs(sub.basis @ w_np).max() if sub.rank else 0.0
        print("layer %d: rank %d, threshold %.4g, top singular values %s, |change| %.4f,"
              " max |V^T W| after %.2e" % (layer, sub.rank, sub.threshold,
                                          np.array2string(sub.singular_values[:3], precision=3),
                                          norm, left))
        assert left < 1e-4, left
        assert sub.rank >= 1, "the toxic tokens leave a signal above the noise"
    print("torch_hooks: ok (%s)" % device)


if __name__ == "__main__":
    main()
