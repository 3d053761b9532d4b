"""Alpha penalties against the hand-computed vectors of method_sa_darts.md §8 (tolerance 1e-6)."""
import math

import pytest
import torch

from srnas.errors import SrnasError
from srnas.registry import REGULARIZERS
from srnas.search.regularizers import alpha_loss, beta_decay_loss, flops_loss, l2_loss, sa_loss

TOL = 1e-6
A = [[0.5, -0.3, 1.2, -1.0, 0.0], [0.1, 0.2, -0.4, 2.0, -2.5]]  # §8 test input, N_e = 2, N_o = 5
GELU = dict(nu=0.0, mu=1 / math.sqrt(2))
DLSR_COSTS = [2304, 20736, 57600, 112896, 5472, 7008, 9312, 2736, 3504]  # §4, MACs/px, C = 48
IMDN_COSTS = [  # §4, per position, 6 candidates; the ±BN twins cost the same (12 columns)
    [36864, 102400, 4672, 5696, 4672, 5696],
    [27648, 76800, 3504, 4272, 3504, 4272],
    [27648, 76800, 3504, 4272, 3504, 4272],
    [6912, 19200, 1200, 1968, 1200, 1968],
]
# settings a registered regularizer cannot run without (used by the registry-wide tests)
REQUIRED = {"flops": {"costs": [float(c) for c in range(1, 6)]}, "latency": {"costs": [float(c) for c in range(1, 6)]}}


def alphas():
    return torch.tensor(A, requires_grad=True)


def value_and_grad(fn, a, epoch=1, num_epochs=10, **settings):
    loss = fn(a, epoch, num_epochs, **settings)
    (grad,) = torch.autograd.grad(loss, a)
    return loss.item(), grad


def test_softmax_vector_8_1():
    beta = torch.softmax(torch.tensor([0.0, 0.1, 0, 0, 0]), dim=0)
    assert torch.allclose(beta, torch.tensor([0.1959, 0.2165, 0.1959, 0.1959, 0.1959]), atol=5e-5)


@pytest.mark.parametrize("mu", [1.0, 5.0])
def test_sa_eq8_mean_and_uniform_gradient(mu):  # §8.2
    loss, grad = value_and_grad(sa_loss, alphas(), lambda_const=1.0, nu=1.0, mu=mu)
    assert loss == pytest.approx(-0.02, abs=TOL)
    assert torch.allclose(grad, torch.full_like(grad, 0.1), atol=TOL)


def test_sa_mu0_is_scaled_mean():  # §8.3
    loss, grad = value_and_grad(sa_loss, alphas(), lambda_const=1.0, nu=0.25, mu=0.0)
    assert loss == pytest.approx(-0.0125, abs=TOL)
    assert torch.allclose(grad, torch.full_like(grad, 0.0625), atol=TOL)


def test_sa_gelu_value_elements_and_gradient():  # §8.4
    loss, grad = value_and_grad(sa_loss, alphas(), lambda_const=1.0, **GELU)
    assert loss == pytest.approx(0.310534, abs=TOL)
    f = [0.345731, -0.114627, 1.061916, -0.158655, 0, 0.053983, 0.115852, -0.137831, 1.954500, -0.015524]
    per_element = [sa_loss(torch.tensor([[a]]), 1, 10, lambda_const=1.0, **GELU).item() for row in A for a in row]
    assert per_element == pytest.approx(f, abs=TOL)
    expected = torch.tensor([[0.086750, 0.026767, 0.111795, -0.008332, 0.050000],
                             [0.057952, 0.065747, 0.019727, 0.108523, -0.003761]])
    assert torch.allclose(grad, expected, atol=TOL)


def test_sa_leaky_mu_1e6_is_finite_with_slope_gradient():  # §8.5
    loss, grad = value_and_grad(sa_loss, alphas(), lambda_const=1.0, nu=0.25, mu=1e6)
    assert loss == pytest.approx(0.295, abs=TOL)
    expected = torch.tensor([[0.1, 0.025, 0.1, 0.025, 0.0625], [0.1, 0.1, 0.025, 0.1, 0.025]])
    assert torch.isfinite(grad).all() and torch.allclose(grad, expected, atol=TOL)


def test_sa_mu_1e6_finite_at_extreme_logits():
    a = torch.tensor([[0.0, 1e-30, -1e-30, 1e-7, -1e-7, 50.0, -50.0, 3e4, -3e4]], requires_grad=True)
    loss, grad = value_and_grad(sa_loss, a, lambda_const=1.0, nu=0.25, mu=1e6)
    assert math.isfinite(loss) and torch.isfinite(grad).all()


@pytest.mark.parametrize("nu, mu, expected", [(0.75, 1e6, 0.085), (0.0, 1e6, 0.4), (0.5, 2.0, 0.160267)])
def test_sa_other_settings(nu, mu, expected):  # §8.6
    loss, _ = value_and_grad(sa_loss, alphas(), lambda_const=1.0, nu=nu, mu=mu)
    assert loss == pytest.approx(expected, abs=TOL)


@pytest.mark.parametrize("epoch, lam", [(1, 0.2), (10, 2.0)])
def test_sa_schedule_epoch_over_5(epoch, lam):  # §8.7: lambda_e = epoch / 5, epoch from 1
    assert sa_loss(torch.ones(1, 1), epoch, 50).item() == pytest.approx(lam, abs=TOL)


def test_sa_epoch10_values():  # §8.7
    assert sa_loss(torch.tensor(A), 10, 50).item() == pytest.approx(-0.04, abs=TOL)
    assert sa_loss(torch.tensor(A), 10, 50, **GELU).item() == pytest.approx(0.621069, abs=TOL)


def test_sa_gelu_element_minimum():  # §8.8
    a = torch.tensor([[-0.751792]], dtype=torch.float64, requires_grad=True)
    loss, grad = value_and_grad(sa_loss, a, lambda_const=1.0, **GELU)
    assert loss == pytest.approx(-0.169971, abs=TOL)
    assert abs(grad.item()) < 1e-5


def test_sa_gelu_derivative_range_and_lambda_scaling():  # §8.8: dL/dalpha = lambda f'(a) / (N_o N_e)
    a = torch.linspace(-8, 8, 160001, dtype=torch.float64).reshape(-1, 1)
    a = torch.cat([a, torch.tensor([[math.sqrt(2)], [-math.sqrt(2)]], dtype=torch.float64)]).requires_grad_(True)
    n = a.numel()
    _, grad = value_and_grad(sa_loss, a, epoch=3, **GELU)  # lambda = 0.6
    f_prime = grad * n / 0.6
    assert f_prime.min().item() == pytest.approx(-0.128904, abs=TOL)
    assert f_prime.max().item() == pytest.approx(1.128904, abs=TOL)


def test_beta_decay_vector():  # §8.12
    a = alphas()
    per_edge = torch.logsumexp(a.detach(), dim=1)
    assert per_edge.tolist() == pytest.approx([1.956926, 2.348326], abs=TOL)
    loss, grad = value_and_grad(beta_decay_loss, a, lambda_max=1.0, schedule="constant")
    assert loss == pytest.approx(2.152626, abs=TOL)
    assert torch.allclose(grad, torch.softmax(a.detach(), dim=1) / 2, atol=TOL)
    assert grad[0].tolist() == pytest.approx([0.116476, 0.052336, 0.234553, 0.025989, 0.070646], abs=TOL)


def test_beta_decay_linear_schedule():  # notes §3 [I]: lambda_t = 50 e / E
    a = torch.tensor(A)
    assert beta_decay_loss(a, 5, 10).item() == pytest.approx(25 * 2.152626, abs=1e-4)
    assert beta_decay_loss(a, 10, 10).item() == pytest.approx(50 * 2.152626, abs=1e-4)
    with pytest.raises(SrnasError, match="schedule"):
        beta_decay_loss(a, 1, 10, schedule="cosine")


def test_l2_vector():  # §8.13
    loss, grad = value_and_grad(l2_loss, alphas(), weight=1.0)
    assert loss == pytest.approx(13.24, abs=1e-5)
    assert torch.allclose(grad, 2 * torch.tensor(A), atol=TOL)


def test_flops_dlsr_uniform_three_rows():  # §8.14
    assert flops_loss(torch.zeros(3, 9), 1, 10, costs=DLSR_COSTS).item() == pytest.approx(1 / 3, abs=TOL)


def test_flops_dlsr_conv7_row_value_and_gradient():  # §8.14
    a = torch.zeros(1, 9)
    a[0, 3] = 2.0
    a.requires_grad_(True)
    loss, grad = value_and_grad(flops_loss, a, costs=torch.tensor([DLSR_COSTS], dtype=torch.float32))
    assert loss == pytest.approx(0.276523, abs=TOL)
    expected = [-0.017293, -0.011887, -0.001076, 0.111879, -0.016364, -0.015914, -0.015238, -0.017166, -0.016941]
    assert grad[0].tolist() == pytest.approx(expected, abs=TOL)


@pytest.mark.parametrize("norm, expected", [("position", 1 / 3), ("global", 1 / 12)])
def test_flops_imdn_uniform(norm, expected):  # §8.14: 4 positions x 12 candidates (±BN)
    costs = [row + row for row in IMDN_COSTS]
    assert sum(costs[0]) == 320000 and sum(costs[3]) == 64896
    per_block = [torch.zeros(1, 12) for _ in range(4)]  # alpha given per block: rows concatenated
    assert flops_loss(per_block, 1, 10, costs=costs, norm=norm).item() == pytest.approx(expected, abs=TOL)


def test_flops_rejects_mismatched_costs():
    with pytest.raises(SrnasError, match="costs shape"):
        flops_loss(torch.zeros(3, 9), 1, 10, costs=DLSR_COSTS[:8])


def test_alpha_loss_sums_terms():
    specs = [("sa", {"nu": 0.0, "mu": 1 / math.sqrt(2)}), ("l2", {"weight": 1.0}), ("flops", {"costs": [1.0] * 5})]
    total, terms = alpha_loss([torch.tensor(A[:1]), torch.tensor(A[1:])], 5, 10, specs)
    assert list(terms) == ["sa", "l2", "flops"]
    assert terms["sa"].item() == pytest.approx(0.310534, abs=TOL)  # epoch 5: lambda_e = 1
    assert terms["l2"].item() == pytest.approx(13.24, abs=1e-5)
    assert terms["flops"].item() == pytest.approx(2 / 5, abs=TOL)
    assert total.item() == pytest.approx(0.310534 + 13.24 + 0.4, abs=1e-5)


def test_alpha_loss_empty_is_zero():
    total, terms = alpha_loss(torch.tensor(A), 1, 10, [])
    assert total.item() == 0.0 and terms == {}


def test_alpha_loss_unknown_name():
    with pytest.raises(SrnasError, match="unknown regularizer 'sac'"):
        alpha_loss(torch.tensor(A), 1, 10, [("sac", {})])


def test_alpha_loss_unknown_setting():
    with pytest.raises(SrnasError, match="regularizer 'sa'.*nuu.*accepted settings: nu, mu"):
        alpha_loss(torch.tensor(A), 1, 10, [("sa", {"nuu": 0.5})])


def test_alphas_with_different_op_counts_rejected():
    with pytest.raises(SrnasError, match="same N_o"):
        sa_loss([torch.zeros(2, 5), torch.zeros(2, 4)], 1, 10)


@pytest.mark.parametrize("name", REGULARIZERS.keys())
def test_registered_regularizer_scalar_finite_with_gradient(name):
    torch.manual_seed(0)
    a = (torch.randn(3, 5) * 2).requires_grad_(True)
    loss = REGULARIZERS.get(name)(a, 3, 10, **REQUIRED.get(name, {}))
    (grad,) = torch.autograd.grad(loss, a)
    assert loss.dim() == 0 and torch.isfinite(loss)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


@pytest.mark.parametrize("name", REGULARIZERS.keys())
def test_registered_regularizer_list_equals_concatenated(name):
    torch.manual_seed(1)
    a = torch.randn(4, 5)
    fn, settings = REGULARIZERS.get(name), REQUIRED.get(name, {})
    assert fn([a[:1], a[1:]], 2, 10, **settings).item() == pytest.approx(fn(a, 2, 10, **settings).item(), abs=TOL)


def _toy_search(optimizer_cls, use_sa, steps=10, **opt_kwargs):
    """alpha steps on a fixed quadratic of softmax(alpha), with or without Eq. 8; returns (alpha, beta)."""
    torch.manual_seed(0)
    alpha = torch.nn.Parameter(1e-3 * torch.randn(3, 5))
    target = torch.softmax(torch.randn(3, 5), dim=1)
    optimizer = optimizer_cls([alpha], weight_decay=0.0, **opt_kwargs)
    for step in range(steps):
        loss_val = ((torch.softmax(alpha, dim=1) - target) ** 2).sum()
        loss = loss_val + (sa_loss(alpha, step + 1, steps) if use_sa else 0.0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return alpha.detach(), torch.softmax(alpha.detach(), dim=1)


def test_eq8_shift_invariant_under_sgd():  # §8.9
    (alpha_plain, plain), (alpha_sa, with_sa) = [_toy_search(torch.optim.SGD, sa, lr=0.5) for sa in (False, True)]
    assert (alpha_plain - alpha_sa).abs().min().item() > 0.1  # Eq. 8 did move every alpha (by the same amount) ...
    assert (plain - with_sa).abs().max().item() <= 1e-6  # ... and left beta unchanged


def test_eq8_changes_beta_under_adam():  # §8.9
    (_, plain), (_, with_sa) = [_toy_search(torch.optim.Adam, sa, lr=0.05) for sa in (False, True)]
    assert (plain - with_sa).abs().max().item() > 1e-3
