"""Lambda-DARTS alignment term (method_sa_darts.md §7, §8.21; brief §4.6) on a two-layer toy, checked by autograd."""
import pytest
import torch

from srnas.search.lambda_reg import (alignment_direction, alignment_score, finite_difference_weight_grad,
                                     lambda_schedule)

F64 = torch.float64


def test_pair_constant_is_one_fifteenth_for_six_cells():  # §8.21
    basis = torch.eye(6, dtype=F64)
    grads = [basis[0], basis[0], *basis[2:]]  # only the pair (0, 1) is aligned, every other pair is orthogonal
    assert alignment_score(grads).item() == pytest.approx(1 / 15, abs=1e-12)
    assert alignment_score([basis[0]] * 6).item() == pytest.approx(1.0, abs=1e-12)


def test_direction_is_autograd_gradient_of_score():
    g = torch.Generator().manual_seed(0)
    grads = [torch.randn(3, 9, generator=g, dtype=F64).requires_grad_(True) for _ in range(6)]
    expected = torch.autograd.grad(alignment_score(grads), grads)  # d/dg_l of c * sum_{l<k} cos(g_l, g_k)
    for d_l, e_l in zip(alignment_direction(grads), expected):
        assert d_l.shape == (3, 9) and torch.allclose(d_l, e_l, atol=1e-12)


def test_zero_gradient_cell_gets_zero_direction():
    g = torch.Generator().manual_seed(1)
    grads = [torch.randn(5, generator=g), torch.zeros(5), torch.randn(5, generator=g)]
    d = alignment_direction(grads)
    assert torch.equal(d[1], torch.zeros(5)) and all(torch.isfinite(x).all() for x in d)


@pytest.mark.parametrize("epoch, num_epochs, lam", [(0, 50, 0.0), (49, 50, 0.125), (10, 21, 0.0625), (0, 1, 0.125)])
def test_lambda_schedule(epoch, num_epochs, lam):
    assert lambda_schedule(epoch, num_epochs) == pytest.approx(lam, abs=1e-12)


class TwoLayerToy:
    """y = layer2(layer1(x)), layer_l(h) = sum_j omega_l[j] * op_j(w_l[j] * h), ops = (identity, tanh, sin)."""

    def __init__(self):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(16, generator=g, dtype=F64)
        self.t = torch.randn(16, generator=g, dtype=F64)
        self.w = [torch.randn(3, generator=g, dtype=F64).requires_grad_(True) for _ in range(2)]
        self.unused = torch.zeros(4, dtype=F64, requires_grad=True)
        self.omegas = [torch.softmax(torch.randn(3, generator=g, dtype=F64), 0) for _ in range(2)]

    def loss_at(self, omegas):
        h = self.x
        for omega, w in zip(omegas, self.w):
            z = w[:, None] * h
            h = omega[0] * z[0] + omega[1] * torch.tanh(z[1]) + omega[2] * torch.sin(z[2])
        return ((h - self.t) ** 2).mean()

    def cell_grads(self, create_graph=False):
        omegas = [o.clone().requires_grad_(True) for o in self.omegas]
        return list(torch.autograd.grad(self.loss_at(omegas), omegas, create_graph=create_graph))


def test_finite_difference_matches_analytic_cross_term():
    toy = TwoLayerToy()
    d = [torch.tensor([0.3, -0.1, 0.2], dtype=F64), torch.tensor([-0.2, 0.4, 0.1], dtype=F64)]
    grads = toy.cell_grads(create_graph=True)
    inner = sum((g * d_l).sum() for g, d_l in zip(grads, d))
    expected = [-g for g in torch.autograd.grad(inner, toy.w)]  # -grad_w <grad_omega L, d>
    reg = finite_difference_weight_grad(toy.loss_at, toy.omegas, d, toy.w + [toy.unused])
    for r, e in zip(reg, expected):
        assert torch.allclose(r, e, rtol=1e-6, atol=1e-8)
    assert expected[0].abs().max() > 1e-2 and torch.equal(reg[2], torch.zeros(4, dtype=F64))


def test_finite_difference_with_alignment_direction_is_minus_score_gradient():
    toy = TwoLayerToy()
    d = alignment_direction(toy.cell_grads())
    score = alignment_score(toy.cell_grads(create_graph=True))
    expected = [-g for g in torch.autograd.grad(score, toy.w)]  # w.grad += lambda * reg descends L - lambda * R
    reg = finite_difference_weight_grad(toy.loss_at, toy.omegas, d, toy.w)
    for r, e in zip(reg, expected):
        assert torch.allclose(r, e, rtol=1e-5, atol=1e-8)


def test_finite_difference_zero_direction_gives_zeros():
    toy = TwoLayerToy()
    reg = finite_difference_weight_grad(toy.loss_at, toy.omegas, [torch.zeros(3, dtype=F64)] * 2, toy.w)
    assert all(torch.equal(r, torch.zeros(3, dtype=F64)) for r in reg)
