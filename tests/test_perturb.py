"""SDARTS perturbations (method_sa_darts.md §7, §8.21; brief §4.4) on toy losses over mixing weights."""
import pytest
import torch

from srnas.search.perturb import adversarial, clip_rows, random_smoothing, sdarts_epsilon

TOL = 1e-6


def test_clip_rows_vector_8_21():
    out = clip_rows(torch.tensor([0.7, 0.5, -0.2]))
    assert out.tolist() == pytest.approx([0.583333, 0.416667, 0.0], abs=TOL)


def test_clip_rows_zero_row_becomes_one_hot_at_previous_argmax():
    out = clip_rows(torch.tensor([[-0.1, -0.05, -0.3], [1.5, 0.5, -1.0]]))
    assert out[0].tolist() == [0.0, 1.0, 0.0]
    assert out[1].tolist() == pytest.approx([2 / 3, 1 / 3, 0.0], abs=TOL)  # 1.5 clamps to 1 before renormalising


@pytest.mark.parametrize("epoch, eps", [(0, 0.03), (25, 0.165), (50, 0.3)])
def test_sdarts_epsilon_schedule(epoch, eps):  # §8.21, epoch from 0 as in the official loop
    assert sdarts_epsilon(epoch, 50) == pytest.approx(eps, abs=TOL)


def test_random_smoothing_noise_in_ball_and_rows_on_simplex():
    torch.manual_seed(0)
    w = torch.softmax(torch.randn(40, 9), dim=1)
    eps = 0.1
    out = random_smoothing(w, eps, torch.Generator().manual_seed(7))
    noise = (2 * torch.rand(w.shape, generator=torch.Generator().manual_seed(7)) - 1) * eps  # the same draw
    assert noise.abs().max().item() <= eps and noise.abs().max().item() > 0.95 * eps
    assert torch.allclose(out, clip_rows(w + noise), atol=1e-7)
    assert torch.allclose(out.sum(dim=1), torch.ones(40), atol=TOL) and out.min() >= 0 and out.max() <= 1
    assert (out - w).abs().max() > 0.01


def test_random_smoothing_keeps_list_structure():
    w = [torch.full((2, 4), 0.25), torch.full((3, 4), 0.25)]
    out = random_smoothing(w, 0.05, torch.Generator().manual_seed(0))
    assert isinstance(out, list) and [o.shape for o in out] == [(2, 4), (3, 4)]


def test_pgd_linear_loss_reaches_ball_corner():
    # 2-op rows and a linear loss: sign steps keep rows summing to 1, so PGD must end exactly at w + eps * sign(v)
    w = torch.tensor([[0.5, 0.5], [0.3, 0.7], [0.8, 0.2]])
    v = torch.tensor([[1.0, -1.0], [-2.0, 2.0], [0.5, -0.5]])
    eps = 0.1

    def loss_fn(x):
        return (x * v).sum()

    out = adversarial(w, eps, loss_fn, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(out, w + eps * v.sign(), atol=TOL)
    assert (out - w).abs().max().item() <= eps + TOL
    assert loss_fn(out) > loss_fn(w)


def test_pgd_nonlinear_loss_increases_and_leaves_weight_grads_alone():
    torch.manual_seed(0)
    layer = torch.nn.Linear(6, 1)
    x_in = torch.randn(8, 6)
    w = torch.softmax(torch.randn(2, 3), dim=1)

    def loss_fn(mix):  # a tiny "supernet": two mixed positions feeding a linear layer
        h = torch.cat([torch.tanh(x_in[:, :3] * mix[0]), torch.sin(x_in[:, 3:] * 2 * mix[1])], dim=1)
        return (layer(h) ** 2).mean()

    eps = 0.2
    out = adversarial(w, eps, loss_fn, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert loss_fn(out) > loss_fn(w) + 1e-4
    assert torch.allclose(out.sum(dim=1), torch.ones(2), atol=TOL) and out.min() >= 0
    assert layer.weight.grad is None and layer.bias.grad is None


def test_pgd_returns_clean_weights_when_attack_lowers_loss():
    w = torch.softmax(torch.randn(3, 4, generator=torch.Generator().manual_seed(0)), dim=1)

    def loss_fn(x):  # x is a list like the input; maximal at the clean weights: every perturbation lowers it
        return -((x[0] - w) ** 2).sum()

    out = adversarial([w], 0.1, loss_fn, generator=torch.Generator().manual_seed(0))
    assert isinstance(out, list) and torch.equal(out[0], w)
