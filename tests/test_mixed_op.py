"""MixedOp: DARTS weighted sum and SAC partial channels (method notes §1.1 Eq. 1, §2 Eq. 19, §8.15)."""
import pytest
import torch
from torch import nn

from srnas.archs.ops import DLSR_PRIMITIVES, IMDN_PRIMITIVES, build_op
from srnas.search.mixed_op import MixedOp


class DartsMixedOp(nn.Module):
    """Reference: quark0/darts cnn/model_search.py MixedOp (without the pooling BN), for bit-exact comparison."""

    def __init__(self, primitives, c):
        super().__init__()
        self._ops = nn.ModuleList(build_op(p, c, c) for p in primitives)

    def forward(self, x, weights):
        return sum(w * op(x) for w, op in zip(weights, self._ops))


def _weights(n, seed=0):
    return torch.softmax(torch.randn(n, generator=torch.Generator().manual_seed(seed)), dim=0)


def _randomize_bn(module):
    g = torch.Generator().manual_seed(3)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=g))
            m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))
            m.weight.data.copy_(1 + 0.1 * torch.randn(m.num_features, generator=g))
            m.bias.data.copy_(0.1 * torch.randn(m.num_features, generator=g))


@pytest.mark.parametrize("primitives,c_in,c_out", [(DLSR_PRIMITIVES, 8, 8), (IMDN_PRIMITIVES, 12, 16)])
def test_mixed_op_equals_explicit_weighted_sum(primitives, c_in, c_out):
    op = MixedOp(primitives, c_in, c_out).eval()
    _randomize_bn(op)
    x = torch.randn(2, c_in, 12, 12)
    w = _weights(len(primitives))
    expected = torch.zeros(2, c_out, 12, 12)
    for i, cand in enumerate(op._ops):
        expected = expected + w[i] * cand(x)
    assert op(x, w).shape == (2, c_out, 12, 12)
    torch.testing.assert_close(op(x, w), expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("train", [True, False])
def test_partial_k1_is_darts_bit_exact(train):
    ref = DartsMixedOp(DLSR_PRIMITIVES, 8)
    op = MixedOp(DLSR_PRIMITIVES, 8, 8, partial_k=1)
    op.load_state_dict({**ref.state_dict(), "_extra_state": op.get_extra_state()})
    op.train(train), ref.train(train)
    x, w = torch.randn(2, 8, 12, 12), _weights(len(DLSR_PRIMITIVES))
    assert torch.equal(op(x, w), ref(x, w))


def test_partial_k4_dlsr_builds_ops_at_c_over_k():
    op = MixedOp(DLSR_PRIMITIVES, 48, 48, partial_k=4)
    assert op._ops[DLSR_PRIMITIVES.index("conv_3x3")].op[0].weight.shape == (12, 12, 3, 3)
    assert op._ops[DLSR_PRIMITIVES.index("sep_conv_5x5")].op[1].weight.shape == (12, 1, 5, 5)


def test_partial_k4_unsampled_channels_pass_through_in_place():
    op = MixedOp(DLSR_PRIMITIVES, 48, 48, partial_k=4, seed=5).eval()
    x, w = torch.randn(2, 48, 12, 12), _weights(len(DLSR_PRIMITIVES))
    idx = op.sample_channels()
    y = op(x, w)
    assert y.shape == x.shape
    rest = torch.tensor([c for c in range(48) if c not in set(idx.tolist())])
    assert len(idx) == 12 and len(rest) == 36
    assert torch.equal(y[:, rest], x[:, rest])
    sub = x[:, idx]
    expected = sum(w[i] * cand(sub) for i, cand in enumerate(op._ops))
    assert torch.equal(y[:, idx], expected)


def test_partial_k4_training_changes_exactly_c_over_k_channels():
    op = MixedOp(DLSR_PRIMITIVES, 48, 48, partial_k=4).train()
    x, w = torch.randn(1, 48, 12, 12), _weights(len(DLSR_PRIMITIVES))
    changed = [(op(x, w) != x).flatten(2).any(-1).squeeze(0) for _ in range(3)]
    assert all(int(c.sum()) == 12 for c in changed)
    assert not all(torch.equal(changed[0], c) for c in changed[1:])  # a fresh draw every forward


def test_partial_eval_is_deterministic_and_train_is_seeded():
    x, w = torch.randn(2, 48, 12, 12), _weights(len(DLSR_PRIMITIVES))
    op = MixedOp(DLSR_PRIMITIVES, 48, 48, partial_k=4, seed=1).eval()
    assert torch.equal(op(x, w), op(x, w))
    a = MixedOp(DLSR_PRIMITIVES, 48, 48, partial_k=4, seed=7)
    b = MixedOp(DLSR_PRIMITIVES, 48, 48, partial_k=4, seed=7)
    assert [a.sample_channels().tolist() for _ in range(3)] == [b.sample_channels().tolist() for _ in range(3)]


def test_partial_generator_state_is_in_state_dict():
    a = MixedOp(DLSR_PRIMITIVES, 16, 16, partial_k=4, seed=2)
    for _ in range(5):
        a.sample_channels()
    b = MixedOp(DLSR_PRIMITIVES, 16, 16, partial_k=4, seed=99)
    b.load_state_dict(a.state_dict())
    assert torch.equal(a.sample_channels(), b.sample_channels())


@pytest.mark.parametrize("c_in,c_out", [(48, 64), (48, 16)])
def test_partial_imdn_cin_ne_cout_reads_subset_outputs_full(c_in, c_out):
    op = MixedOp(IMDN_PRIMITIVES, c_in, c_out, partial_k=4).eval()
    assert op._ops[0].weight.shape == (c_out, c_in // 4, 3, 3)  # conv3
    x, w = torch.randn(2, c_in, 12, 12), _weights(len(IMDN_PRIMITIVES))
    idx = op.sample_channels()
    y = op(x, w)
    assert y.shape == (2, c_out, 12, 12)
    torch.testing.assert_close(y, sum(w[i] * cand(x[:, idx]) for i, cand in enumerate(op._ops)), rtol=0, atol=0)


def test_partial_gradients_reach_input_weights_and_ops():
    op = MixedOp(DLSR_PRIMITIVES, 16, 16, partial_k=4).eval()
    x = torch.randn(1, 16, 12, 12, requires_grad=True)
    w = _weights(len(DLSR_PRIMITIVES)).requires_grad_(True)
    idx = op.sample_channels()
    op(x, w).square().sum().backward()
    rest = [c for c in range(16) if c not in set(idx.tolist())]
    torch.testing.assert_close(x.grad[:, rest], 2 * x.detach()[:, rest])  # bypass channels: identity
    assert w.grad.abs().min() > 0
    assert all(p.grad is not None for p in op.parameters())


def test_partial_k_must_divide_channels():
    with pytest.raises(ValueError, match="partial_k"):
        MixedOp(DLSR_PRIMITIVES, 10, 10, partial_k=4)
