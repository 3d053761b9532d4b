"""The scale symmetry between mixing weights and candidate parameters, and ``MixedOp.fix_scale`` which removes it."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from srnas.archs.ops import DLSR_PRIMITIVES, IMDN_PRIMITIVES
from srnas.search.mixed_op import MixedOp


def _scale_last_layer(op: nn.Module, c: float) -> None:
    """Multiply the candidate's output by ``c`` through its own parameters (last conv, or the BN affine)."""
    last = op if not isinstance(op, nn.Sequential) else op[-1]
    with torch.no_grad():
        last.weight.mul_(c)
        last.bias.mul_(c)


def _weights(seed: int, n: int) -> torch.Tensor:
    return torch.softmax(2.0 * torch.randn(n, generator=torch.Generator().manual_seed(seed)), 0)


@pytest.mark.parametrize("c_in,c_out", [(8, 8), (6, 8)])
def test_weights_can_undo_any_alpha_without_fixed_scale(c_in, c_out):
    """Every IMDN-space candidate ends in a linear layer, so a rescaled candidate reproduces the supernet exactly
    under mixing weights with a different argmax: L_val alone cannot prefer one alpha (README, issue 20)."""
    torch.manual_seed(0)
    a = MixedOp(IMDN_PRIMITIVES, c_in, c_out).train()
    wa, wb = _weights(1, len(IMDN_PRIMITIVES)), _weights(2, len(IMDN_PRIMITIVES))
    assert wa.argmax() != wb.argmax()
    b = copy.deepcopy(a)
    for op, x_a, x_b in zip(b._ops, wa, wb):
        _scale_last_layer(op, float(x_a / x_b))
    x = torch.randn(2, c_in, 9, 9)
    torch.testing.assert_close(b(x, wb), a(x, wa), rtol=1e-4, atol=1e-5)


def test_fixed_scale_blocks_the_rescaling():
    torch.manual_seed(0)
    m = MixedOp(IMDN_PRIMITIVES, 8, 8)
    m.fix_scale()
    w = _weights(1, len(IMDN_PRIMITIVES))
    x = torch.randn(2, 8, 9, 9)
    before = m(x, w)
    with torch.no_grad():  # scaling every stored weight tensor changes nothing: the norms are fixed
        for op in m._ops:
            for p_name, p in op.named_parameters():
                if p_name.endswith("original"):
                    p.mul_(3.0)
    torch.testing.assert_close(m(x, w), before, rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        m.gain.fill_(2.0)  # the one learned scale of the position
    torch.testing.assert_close(m(x, w), 2.0 * before, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("prims,c_in,c_out,k", [(IMDN_PRIMITIVES, 8, 8, 1), (IMDN_PRIMITIVES, 8, 8, 2),
                                                (IMDN_PRIMITIVES, 6, 8, 1), (DLSR_PRIMITIVES, 8, 8, 1)])
def test_fixed_scale_fast_path_equals_loop(prims, c_in, c_out, k):
    torch.manual_seed(0)
    naive = MixedOp(prims, c_in, c_out, partial_k=k, impl="naive")
    naive.fix_scale()
    with torch.no_grad():
        for p in naive.parameters():
            p.add_(0.1 * torch.randn_like(p))
    fast = MixedOp(prims, c_in, c_out, partial_k=k, impl="fast")
    fast.fix_scale()
    fast.load_state_dict(naive.state_dict())
    x = torch.randn(2, c_in, 10, 10)
    alpha = torch.randn(len(prims), requires_grad=True)
    outs, grads = [], []
    for m in (naive, fast):
        y = m(x, torch.softmax(alpha, 0))
        g = torch.autograd.grad((y ** 2).mean(), [alpha, m.gain, *m._ops[1].parameters()])
        outs.append(y)
        grads.append(g)
    torch.testing.assert_close(outs[1], outs[0], rtol=1e-4, atol=1e-5)
    for g_fast, g_naive in zip(grads[1], grads[0]):
        torch.testing.assert_close(g_fast, g_naive, rtol=1e-3, atol=1e-6)


def test_fixed_scale_option_builds_gains_as_weights():
    from srnas.config.search import load_search_options
    from srnas.search.spaces import build_supernet

    opt, _ = load_search_options("options/search/quickstart.yml", ["network_g.fixed_scale=true", "network_g.num_feat=16",
                                                                     "network_g.num_block=1"])
    net = build_supernet(opt)
    gains = [m.gain for m in net.modules() if isinstance(m, MixedOp)]
    assert gains and all(isinstance(g, nn.Parameter) for g in gains)
    weight_ids = {id(p) for p in net.weight_parameters()}
    assert all(id(g) in weight_ids for g in gains)
    assert not any(id(a) in weight_ids for a in net.arch_parameters())
    clone = build_supernet(opt)
    clone.load_state_dict(net.state_dict())  # a search checkpoint resumes
