"""``benchmarks/alpha_gradients.py``: what SGD, Adam and Adam + Eq. 8 make of the same alpha-gradient samples."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

spec = importlib.util.spec_from_file_location("alpha_gradients",
                                              Path(__file__).resolve().parents[1] / "benchmarks/alpha_gradients.py")
ag = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ag)


def _samples(means, sds, n=4000, seed=0):
    g = torch.Generator().manual_seed(seed)
    means, sds = torch.tensor(means), torch.tensor(sds)
    return (means + sds * torch.randn(n, len(means), generator=g))[:, None, :]  # (n, 1 row, candidates)


def test_sgd_keeps_magnitude_adam_keeps_only_sign():
    # candidates 0 and 1 both help (negative mean gradient), 0 four times more; both with little spread
    G = _samples([-4e-4, -1e-4, 2.5e-4, 2.5e-4], [2e-5, 2e-5, 2e-5, 2e-5])
    d = ag.update_directions(G, torch.zeros(1, 4))
    assert d["sgd"][0, 0] > 3 * d["sgd"][0, 1] > 0        # SGD: candidate 0 rises 4x faster
    assert float(d["adam"][0, 0] / d["adam"][0, 1]) < 1.05  # Adam: both rise at about the same rate


def test_uniform_penalty_under_adam_favours_the_noisiest_candidate():
    # the same means; candidate 3 (harmful on average) has a 20x noisier gradient; c = Eq. 8's constant, 10x the means
    G = _samples([-2e-4, -1e-4, 1e-4, 2e-4], [1e-4, 1e-4, 1e-4, 2e-3])
    d = ag.update_directions(G, torch.full((1, 4), 2e-3))
    assert int(d["adam+penalty"][0].argmax()) == 3   # falls slowest: ranked first
    assert int(d["sgd"][0].argmax()) == 0            # without the penalty's normalisation: the helpful one
