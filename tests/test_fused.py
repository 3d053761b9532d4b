"""The fast mixed op (``impl="fast"``, srnas/search/fused.py) equals the candidate loop: forward, gradients to the
mixing weights, alphas, betas and every candidate weight, BN running statistics, for both spaces, K = 1 and K = 4,
shared and per-block alphas, train and eval mode, double backward and recomputation."""
import copy

import pytest
import torch
from torch import nn

from srnas.archs.ops import DLSR_PRIMITIVES, EXTRA_PRIMITIVES, IMDN_PRIMITIVES
from srnas.search.fused import make_plan
from srnas.search.mixed_op import MixedOp
from srnas.search.spaces import DLSRSupernet, IMDNSupernet
from srnas.search.step import StepContext, alpha_step, weight_step

SPACES = {"imdn": (IMDNSupernet, dict(num_feat=16, num_block=2)), "dlsr": (DLSRSupernet, dict(num_feat=8, num_block=3))}


def _close(actual, expected, what, rel=2e-5):
    """Equal up to float rounding, relative to the tensor's scale (summation order differs)."""
    tol = rel * max(1.0, float(expected.detach().abs().max()))
    torch.testing.assert_close(actual, expected, rtol=0, atol=tol, msg=lambda m: f"{what}: {m}")


def _perturb(module, seed=0):
    """Random biases and BN statistics/affines, so that every folded term is exercised."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.Conv2d) and m.bias is not None:
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))
                m.weight.copy_(1 + 0.2 * torch.randn(m.num_features, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.num_features, generator=g))


def _pair_ops(primitives, c_in, c_out, k, train):
    naive = MixedOp(primitives, c_in, c_out, partial_k=k, seed=3, impl="naive")
    _perturb(naive)
    fast = copy.deepcopy(naive)
    fast.impl = "fast"
    return naive.train(train), fast.train(train)


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("k", [1, 4])
@pytest.mark.parametrize("primitives,c_in,c_out", [(DLSR_PRIMITIVES + EXTRA_PRIMITIVES, 8, 8),
                                                   (IMDN_PRIMITIVES, 16, 16), (IMDN_PRIMITIVES, 12, 16),
                                                   (IMDN_PRIMITIVES, 12, 4)])
def test_fast_mixed_op_equals_loop(primitives, c_in, c_out, k, train):
    naive, fast = _pair_ops(primitives, c_in, c_out, k, train)
    x = torch.randn(2, c_in, 10, 10)
    w = torch.softmax(torch.randn(len(primitives), generator=torch.Generator().manual_seed(1)), 0)
    grads = []
    for op in (naive, fast):
        xi, wi = x.clone().requires_grad_(True), w.clone().requires_grad_(True)
        y = op(xi, wi)
        (y * torch.linspace(-1, 1, y.numel()).view_as(y)).sum().backward()
        grads.append((y, xi.grad, wi.grad, [p.grad for p in op.parameters()]))
    (y0, x0, w0, p0), (y1, x1, w1, p1) = grads
    _close(y1, y0, "output")
    _close(x1, x0, "grad x")
    _close(w1, w0, "grad weights")
    for i, (a, b) in enumerate(zip(p1, p0)):
        assert (a is None) == (b is None), f"param {i}: gradient presence differs"
        if a is not None:
            _close(a, b, f"grad param {i}")
    for (name, a), b in zip(fast.named_buffers(), naive.buffers()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7, msg=lambda m: f"buffer {name}: {m}")


def test_plan_groups_candidates():
    dlsr = make_plan(MixedOp(DLSR_PRIMITIVES + EXTRA_PRIMITIVES, 8, 8)._ops)
    assert dlsr.extent == 7 and dlsr.dense == [0, 1, 2, 3, 9]  # conv_1x1..7x7 and skip_connect fold into one 7x7
    assert dlsr.tail == [4, 5, 6, 7, 8] and not dlsr.bn and not dlsr.loop  # sep/dil: one shared 1x1; `none` dropped
    ops = MixedOp(IMDN_PRIMITIVES, 16, 16)._ops.train()
    imdn = make_plan(ops)
    assert imdn.extent == 5 and imdn.dense == [0, 1, 2, 3, 4]  # conv3, conv5, sep3, sep5, dilsep3 (5x5 extent)
    assert imdn.tail == [5] and imdn.bn == list(range(6, 12))  # dilsep5 spans 9x9; training-mode BN is not linear
    imdn_eval = make_plan(ops.eval())
    assert imdn_eval.dense == [0, 1, 2, 3, 4, 6, 7, 8, 9, 10] and imdn_eval.tail == [5, 11]  # eval BN is affine


def _pair_nets(space, **kw):
    cls, size = SPACES[space]
    torch.manual_seed(0)
    naive = cls(**size, impl="naive", **kw)
    _perturb(naive)
    with torch.no_grad():
        for a in naive.arch_parameters():
            a.copy_(torch.randn(a.shape))
    fast = cls(**size, impl="fast", **kw)
    fast.load_state_dict(naive.state_dict())
    return naive, fast


@pytest.mark.parametrize("per_block", [False, True])
@pytest.mark.parametrize("k", [1, 4])
@pytest.mark.parametrize("space", ["imdn", "dlsr"])
def test_fast_supernet_equals_naive(space, k, per_block):
    naive, fast = _pair_nets(space, partial_k=k, per_block_alphas=per_block)
    assert fast.channels_last and not naive.channels_last
    x, gt = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 32, 32)
    outs = []
    for net in (naive, fast):
        y = net.train()(x)
        (y - gt).abs().mean().backward()
        outs.append(y)
    _close(outs[1], outs[0], "output")
    for (name, a), b in zip(fast.named_parameters(), naive.parameters()):
        _close(a.grad, b.grad, f"grad {name}")
    for (name, a), b in zip(fast.named_buffers(), naive.buffers()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7, msg=lambda m: f"buffer {name}: {m}")
    _close(fast.eval()(x), naive.eval()(x), "eval output")


def test_state_dict_layout_is_shared():
    naive, fast = _pair_nets("imdn", partial_k=4)
    assert list(naive.state_dict()) == list(fast.state_dict())
    assert "IMDB1.c1._ops.0.weight" in fast.state_dict() and "IMDB1.c1._extra_state" in fast.state_dict()


@pytest.mark.parametrize("recompute", [False, True])
@pytest.mark.parametrize("space", ["imdn", "dlsr"])
def test_fast_double_backward_matches(space, recompute):
    """The Hessian of L w.r.t. the alphas (R-DARTS) differentiates through the folded kernels (and the recomputed
    heads)."""
    naive, fast = _pair_nets(space, recompute=recompute)
    x, gt = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 32, 32)
    hv = []
    for net in (naive, fast):
        net.eval()
        loss = (net(x) - gt).square().mean()
        g = torch.autograd.grad(loss, net.arch_parameters(), create_graph=True)
        hv.append(torch.autograd.grad(sum(t.sum() for t in g), net.arch_parameters()))
    for a, b in zip(hv[1], hv[0]):
        _close(a, b, "Hessian-vector product", rel=1e-4)


@pytest.mark.parametrize("space", ["imdn", "dlsr"])
def test_recompute_changes_nothing(space):
    _, fast = _pair_nets(space)
    cls, size = SPACES[space]
    ck = cls(**size, recompute=True)
    ck.load_state_dict(fast.state_dict())
    assert all(m.recompute and not n.recompute for m, n in zip(ck.modules(), fast.modules()) if isinstance(m, MixedOp))
    x = torch.rand(2, 3, 16, 16)
    for net in (fast, ck):
        net.train()(x).square().mean().backward()
    for (name, a), b in zip(ck.named_parameters(), fast.parameters()):
        _close(a.grad, b.grad, f"grad {name}", rel=1e-6)


@pytest.mark.parametrize("space", ["imdn", "dlsr"])
def test_search_steps_match(space):
    """One alpha step and one weight step (Adam) from the same state land on the same parameters (to 10 % of Adam's
    first step, lr * g / |g|: a near-zero gradient's sign may differ by rounding). A parameter whose gradient is below
    1e-8 (e.g. a conv bias that feeds a training-mode BN: zero in exact arithmetic, ~1e-10 of rounding) takes a step
    that is rounding noise amplified by Adam's 1 / (|g| + eps): it is held to Adam's bound, lr."""
    naive, fast = _pair_nets(space, partial_k=2)
    batch = {"lq": torch.rand(2, 3, 16, 16), "gt": torch.rand(2, 3, 32, 32)}
    ctx = StepContext(0, 1, 2)
    for net in (naive, fast):
        net.train()
        opt_a = torch.optim.Adam(net.arch_parameters(), lr=3e-4, betas=(0.5, 0.999))
        opt_w = torch.optim.Adam(net.weight_parameters(), lr=5e-4)
        alpha_step(net, batch, opt_a, [("sa", {})], ctx)
        weight_step(net, batch, opt_w, ctx)
    noise = {n for n, p in naive.named_parameters() if p.grad is not None and float(p.grad.abs().max()) < 1e-8}
    assert len(noise) < len(list(naive.parameters())) // 2, sorted(noise)
    for (name, a), b in zip(fast.state_dict().items(), naive.state_dict().values()):
        if isinstance(a, torch.Tensor) and a.is_floating_point():
            _close(a, b, name, rel=5e-4 if name in noise else 0.1 * 5e-4)


def test_fast_runs_under_bf16_autocast():
    _, fast = _pair_nets("dlsr")
    x = torch.rand(2, 3, 16, 16)
    ref = fast.train()(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = fast(x)
    assert y.dtype == torch.bfloat16
    assert (y.float() - ref).abs().mean() < 0.05 * ref.abs().mean()


def test_impl_is_checked():
    with pytest.raises(ValueError, match="impl"):
        MixedOp(DLSR_PRIMITIVES, 8, 8, impl="fused")


def test_recompute_option_reaches_every_mixed_op(tmp_path):
    from srnas.config.search import load_search_options
    from srnas.search.spaces import build_supernet

    f = tmp_path / "o.yml"
    f.write_text("name: t\nnetwork_g: {type: dlsr, num_feat: 8, num_block: 2}\ndatasets:\n"
                 "  train: {hr_dir: datasets/T91}\n  arch: {hr_dir: datasets/T91}\nsearch: {iters: 1}\n")
    for flag in (False, True):
        opt, _ = load_search_options(f, [f"network_g.recompute={str(flag).lower()}"])
        ops = [m for m in build_supernet(opt).modules() if isinstance(m, MixedOp)]
        assert len(ops) == 6 and all(m.recompute is flag for m in ops)
