"""Supernets of the IMDN and DLSR spaces (method notes §4, §5.1-5.2, §8.14-8.17; brief §1.3, §2.1)."""
import math
import re

import pytest
import torch
from torch import nn

from srnas.archs.factory import create_model
from srnas.archs.genotype import Genotype
from srnas.archs.ops import DLSR_PRIMITIVES, EXTRA_PRIMITIVES, IMDN_PRIMITIVES, build_op
from srnas.registry import SPACE_SPECS, SPACES
from srnas.search.spaces import DLSRSupernet, IMDNSupernet

TINY = {"imdn": dict(num_feat=16, num_block=2), "dlsr": dict(num_feat=8, num_block=3)}
SPACE_CLS = {"imdn": IMDNSupernet, "dlsr": DLSRSupernet}


def _tiny(space, **kw):
    torch.manual_seed(0)
    return SPACE_CLS[space](**TINY[space], **kw)


def _lr(n=2, size=16, seed=0):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _numel(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_spaces_registered():
    assert SPACES.get("imdn") is IMDNSupernet and SPACES.get("dlsr") is DLSRSupernet
    assert IMDNSupernet.space_name == "imdn" and DLSRSupernet.space_name == "dlsr"


@pytest.mark.parametrize("name", SPACE_SPECS.keys())
def test_every_space_spec_has_a_supernet_an_arch_and_its_baselines(name, repo_dir):
    spec = SPACE_SPECS.get(name)
    net = SPACES.get(name)(num_feat=8 * spec.feat_multiple, num_block=3)
    assert net.spec is spec and net.primitives == spec.primitives and net.slot_shapes() == spec.slot_shapes(net.num_feat)
    g = Genotype.make(name, [spec.primitives[0]] * spec.positions, 8 * spec.feat_multiple, 3, spec.chain_connections(3))
    assert isinstance(create_model(genotype=g, scale=2), spec.arch)
    for _, path in spec.hand_designed:
        assert Genotype.load(repo_dir / path).space == name


@pytest.mark.parametrize("space", ["imdn", "dlsr"])
@pytest.mark.parametrize("k", [1, 4])
def test_supernet_forward_shape_and_alpha_gradient(space, k):
    net = _tiny(space, partial_k=k, upscale=2)
    x = _lr()
    y = net(x)
    assert y.shape == (2, 3, 32, 32) and torch.isfinite(y).all()
    (y - torch.rand_like(y)).abs().mean().backward()  # L1 loss
    for p in net.arch_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0


@pytest.mark.parametrize("space", ["imdn", "dlsr"])
def test_parameter_groups_partition(space):
    net = _tiny(space)
    arch, weights = net.arch_parameters(), net.weight_parameters()
    assert {id(p) for p in arch}.isdisjoint({id(p) for p in weights})
    assert len(arch) + len(weights) == len(list(net.parameters()))
    names = {n for n, p in net.named_parameters() if any(p is a for a in arch)}
    assert names == {"alphas"} | ({"betas.0"} if space == "dlsr" else set())
    assert net.op_alphas()[0].shape == (4 if space == "imdn" else 3, len(net.primitives))
    assert [tuple(b.shape) for b in net.path_alphas()] == ([(2,)] if space == "dlsr" else [])


def test_dlsr_betas_sizes():
    net = DLSRSupernet(num_feat=8, num_block=6)
    assert [b.numel() for b in net.betas] == [2, 3, 4, 5]  # brief §1.3


@pytest.mark.parametrize("space", ["imdn", "dlsr"])
def test_mixing_weights_shared_and_per_block(space):
    net = _tiny(space)
    w = net.mixing_weights()
    assert len(w) == net.num_block and all(t is w[0] for t in w)
    torch.testing.assert_close(w[0].sum(-1), torch.ones(w[0].shape[0]))
    per = _tiny(space, per_block_alphas=True)
    assert len(per.op_alphas()) == per.num_block and isinstance(per.alphas, nn.ParameterList)
    wp = per.mixing_weights()
    assert len(wp) == per.num_block and not torch.equal(wp[0], wp[1])


@pytest.mark.parametrize("space", ["imdn", "dlsr"])
def test_explicit_block_weights_match_default(space):
    net = _tiny(space).eval()
    x = _lr()
    assert torch.equal(net(x), net(x, [w.clone() for w in net.mixing_weights()]))
    with pytest.raises(ValueError, match="block_weights"):
        net(x, net.mixing_weights()[:1])


def test_block_weights_are_differentiable_inputs():
    net = _tiny("imdn")
    bw = [w.detach().clone().requires_grad_(True) for w in net.mixing_weights()]
    net(_lr(), bw).mean().backward()
    assert all(w.grad is not None and w.grad.abs().sum() > 0 for w in bw)
    assert net.alphas.grad is None  # Lambda-DARTS/SDARTS: the caller owns these weights


def test_init_alphas_modes():
    net = DLSRSupernet(num_feat=8, num_block=4, primitives=DLSR_PRIMITIVES + EXTRA_PRIMITIVES)
    g = torch.Generator().manual_seed(0)
    net.init_alphas("zeros")
    assert torch.equal(net.alphas, torch.zeros(3, 11))
    net.init_alphas("random", generator=g)
    assert 0 < net.alphas.abs().max() < 1e-2 and net.alphas.std() > 1e-4
    net.init_alphas("negative", offset=-2.0, generator=g)
    assert torch.allclose(net.alphas, torch.full((3, 11), -2.0), atol=1e-2)
    assert not torch.equal(net.alphas[0], net.alphas[1])
    net.init_alphas("biased", bias_op="skip_connect", bias=0.1, generator=g)
    col = net.primitives.index("skip_connect")
    assert net.genotype().ops[0] == ("skip_connect",) * 3
    assert torch.allclose(net.alphas[:, col], torch.full((3,), 0.1), atol=1e-2)
    assert all(0 < b.abs().max() < 1e-2 for b in net.betas)  # betas: always 1e-3 randn
    a = DLSRSupernet(num_feat=8, num_block=3)
    b = DLSRSupernet(num_feat=8, num_block=3)
    a.init_alphas(generator=torch.Generator().manual_seed(4))
    b.init_alphas(generator=torch.Generator().manual_seed(4))
    assert torch.equal(a.alphas, b.alphas) and torch.equal(a.betas[0], b.betas[0])
    with pytest.raises(ValueError, match="mode"):
        net.init_alphas("ones")


def test_genotype_from_alphas_and_betas():
    net = DLSRSupernet(num_feat=8, num_block=4)
    with torch.no_grad():
        net.alphas.zero_()
        net.alphas[0, 0] = net.alphas[1, 6] = net.alphas[2, 5] = 1.0
        net.betas[0].copy_(torch.tensor([0.2, 0.1]))
        net.betas[1].copy_(torch.tensor([0.3, -0.5, 0.4]))
    g = net.genotype(scale=2)
    assert g.ops[0] == ("conv_1x1", "sep_conv_7x7", "sep_conv_5x5") and g.shared
    assert g.connections == ((1, 2), (1, 3)) and g.scale == 2 and g.primitives == DLSR_PRIMITIVES
    assert Genotype.from_json(g.to_json()) == g
    per = IMDNSupernet(num_feat=16, num_block=2, per_block_alphas=True)
    with torch.no_grad():
        for a in per.alphas:
            a.zero_()
        per.alphas[1][3, 2] = 1.0
    assert per.genotype().ops == (("conv3",) * 4, ("conv3", "conv3", "conv3", "sep3"))


# ---- one-hot supernet == derived network (STYLE "prove equivalences") ------------------------------------------------
def _one_hot(net, ops):
    return torch.stack([nn.functional.one_hot(torch.tensor(net.primitives.index(o)), len(net.primitives)).float()
                        for o in ops])


def _inherit(supernet, derived, ops):
    """State dict for ``derived`` from ``supernet``: slots take the chosen candidate ``_ops.<idx>``, DLSR fusion convs
    take the chosen input slices scaled by softmax(beta), every other layer is copied by name."""
    src, out = supernet.state_dict(), {}
    slot = re.compile(r"^(IMDB|B)(\d+)\.(c\d)(_r)?\.(.*)$")
    fusion = re.compile(r"^c(\d+)\.0\.(weight|bias)$")
    c = supernet.num_feat
    for key, value in derived.state_dict().items():
        m, f = slot.match(key), fusion.match(key)
        if m:
            block, pos = int(m.group(2)), int(m.group(3)[1:]) - 1
            if pos < len(ops[block - 1]):
                idx = supernet.primitives.index(ops[block - 1][pos])
                out[key] = src[f"{m.group(1)}{block}.{m.group(3)}{m.group(4) or ''}._ops.{idx}.{m.group(5)}"]
                continue
        if f and isinstance(supernet, DLSRSupernet):
            i = int(f.group(1))
            w = src[key]
            if f.group(2) == "weight":
                path = torch.softmax(supernet.betas[i - 3].detach(), 0)
                conn = derived.connections[i - 3]
                w = torch.cat([path[j - 1] * w[:, (j - 1) * c: j * c] for j in conn], dim=1)
            out[key] = w
            continue
        out[key] = src[key]
    assert all(out[k].shape == v.shape for k, v in derived.state_dict().items())
    return out


def _randomize_bn_stats(net):
    g = torch.Generator().manual_seed(1)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=g))
            m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))
            m.weight.data.uniform_(0.5, 1.5)


def test_imdn_one_hot_supernet_equals_derived():
    torch.manual_seed(0)
    net = IMDNSupernet(num_feat=16, num_block=2, upscale=2).eval()
    _randomize_bn_stats(net)
    ops = [("sep3_bn", "conv5", "dilsep5", "conv3_bn"), ("dilsep3", "sep5_bn", "conv3", "conv5_bn")]
    genotype = Genotype.make("imdn", [list(r) for r in ops], 16, 2, scale=2)
    derived = create_model("imdn", scale=2, genotype=genotype).eval()
    derived.load_state_dict(_inherit(net, derived, ops))
    x = _lr()
    expected = derived(x)
    torch.testing.assert_close(net(x, [_one_hot(net, r) for r in ops]), expected, rtol=0, atol=1e-6)


def test_dlsr_one_hot_supernet_equals_derived():
    torch.manual_seed(0)
    net = DLSRSupernet(num_feat=8, num_block=4, upscale=2).eval()
    ops = ("conv_1x1", "sep_conv_7x7", "dil_conv_5x5")
    with torch.no_grad():
        net.alphas.zero_()
        for r, o in enumerate(ops):
            net.alphas[r, DLSR_PRIMITIVES.index(o)] = 1.0
        net.betas[0].copy_(torch.tensor([0.3, 0.3]))  # cell 3 <- [1, 2], weights 0.5 / 0.5
        net.betas[1].copy_(torch.tensor([-math.inf, 0.2, 0.7]))  # cell 4 <- [2, 3]; weight 0 on cell 1
    genotype = net.genotype(scale=2)
    assert genotype.connections == ((1, 2), (2, 3)) and genotype.ops[0] == ops
    derived = create_model("dlsr", scale=2, genotype=genotype).eval()
    derived.load_state_dict(_inherit(net, derived, [ops] * 4))
    x = _lr(size=16)
    torch.testing.assert_close(net(x, [_one_hot(net, ops)] * 4), derived(x), rtol=0, atol=1e-6)


# ---- costs and sizes -------------------------------------------------------------------------------------------------
def test_candidate_costs_dlsr_match_method_notes():
    costs = DLSRSupernet(num_block=2).candidate_costs()
    table = [2304, 20736, 57600, 112896, 5472, 7008, 9312, 2736, 3504]  # method notes §4, C = 48, no bias
    assert costs.shape == (3, 9)
    assert costs[0, DLSR_PRIMITIVES.index("conv_3x3")] == 20736
    assert costs.tolist() == [table] * 3


def test_candidate_costs_imdn_match_method_notes():
    costs = IMDNSupernet(num_block=1).candidate_costs()
    assert costs.shape == (4, 12)
    table = [[36864, 102400, 4672, 5696, 4672, 5696], [27648, 76800, 3504, 4272, 3504, 4272],
             [27648, 76800, 3504, 4272, 3504, 4272], [6912, 19200, 1200, 1968, 1200, 1968]]  # method notes §4
    assert costs[:, :6].tolist() == table
    assert costs[:, 6:].tolist() == table  # BN folds into the conv: 0 MACs
    assert costs.sum(1).tolist() == [320000, 240000, 240000, 64896]


def _dlsr_fixed(c, n, fusion_inputs):
    """Non-searchable DLSR params from the layer shapes (brief §1.2-1.3), bias everywhere except in the ops."""
    conv = lambda ci, co, k: ci * co * k * k + co  # noqa: E731
    dc, f = c // 2, c // 4
    esa = conv(c, f, 1) + conv(f, f, 1) + 4 * conv(f, f, 3) + conv(f, c, 1)
    cell = 3 * conv(c, dc, 1) + conv(c, dc, 3) + conv(4 * dc, c, 1) + esa
    fusion = sum(conv(m * c, c, 1) for m in fusion_inputs)
    return conv(3, c, 3) + n * cell + fusion + conv(n * c, c, 1) + conv(c, c, 3) + conv(c, 3 * 4, 3)


def _imdn_fixed(c, n):
    conv = lambda ci, co, k: ci * co * k * k + co  # noqa: E731
    d = c // 4
    block = conv(4 * d, c, 1) + conv(4 * d, 4 * d // 16, 1) + conv(4 * d // 16, 4 * d, 1)  # c5 + CCA
    return conv(3, c, 3) + n * block + conv(n * c, c, 1) + conv(c, c, 3) + conv(c, 3 * 4, 3)


def _ops_params(names, shapes):
    return sum(_numel(build_op(p, ci, co)) for ci, co in shapes for p in names)


def test_full_size_dlsr_supernet_param_count():
    c = 48
    # anchor the fixed-part arithmetic on the released x2 model (brief §1.4: 322,620)
    released = _dlsr_fixed(c, 6, [2, 2, 2, 2]) + 6 * _ops_params(["conv_1x1", "sep_conv_7x7", "sep_conv_5x5"], [(c, c)])
    assert released == 322620
    assert _ops_params(DLSR_PRIMITIVES, [(c, c)]) == 221568  # method notes §4 Σ row
    expected = _dlsr_fixed(c, 6, [2, 3, 4, 5]) + 6 * 3 * 221568 + 3 * 9 + (2 + 3 + 4 + 5)
    net = DLSRSupernet()
    print(f"DLSR supernet params: {_numel(net)}")
    assert _numel(net) == expected == 4212965


def test_full_size_imdn_supernet_param_count():
    shapes = [(64, 64), (48, 64), (48, 64), (48, 16)]
    assert _imdn_fixed(64, 6) + 6 * _ops_params(["conv3"], shapes) == 694404  # official IMDN x2 (brief §2.2)
    expected = _imdn_fixed(64, 6) + 6 * _ops_params(IMDN_PRIMITIVES, shapes) + 4 * 12
    net = IMDNSupernet()
    print(f"IMDN supernet params: {_numel(net)}")
    assert _numel(net) == expected == 5328084


@pytest.mark.parametrize("space", ["imdn", "dlsr"])
def test_partial_supernet_eval_is_deterministic(space):
    net = _tiny(space, partial_k=4).eval()
    x = _lr()
    assert torch.equal(net(x), net(x))
