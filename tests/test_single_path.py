"""Single-path weight steps (``search.weight_paths``, ``srnas.search.single_path``): one candidate per position."""
import pytest
import torch

from srnas.archs.ops import IMDN_PRIMITIVES
from srnas.search.mixed_op import MixedOp
from srnas.search.single_path import SinglePathSampling, skip_zero_weights, uniform_paths
from srnas.search.spaces import IMDNSupernet
from srnas.search.step import StepContext, weight_step


@pytest.mark.parametrize("k", [1, 2])
def test_a_one_hot_row_runs_one_candidate_and_matches_the_mixture(k):
    torch.manual_seed(0)
    m = MixedOp(IMDN_PRIMITIVES, 8, 8, partial_k=k, impl="naive").train()
    w = torch.nn.functional.one_hot(torch.tensor(3), len(IMDN_PRIMITIVES)).float()
    x = torch.randn(2, 8, 9, 9)
    calls = []
    hooks = [op.register_forward_hook(lambda mod, i, o, n=n: calls.append(n)) for n, op in enumerate(m._ops)]
    m._generator.manual_seed(0)
    ref = m(x, w)
    assert len(calls) == len(IMDN_PRIMITIVES)
    calls.clear()
    m._generator.manual_seed(0)
    m.skip_zero = True
    sparse = m(x, w)
    for h in hooks:
        h.remove()
    assert calls == [3]  # only the candidate of non-zero weight ran
    torch.testing.assert_close(sparse, ref, rtol=1e-6, atol=1e-6)


def test_uniform_paths_are_one_hot_and_cover_every_candidate():
    g = torch.Generator().manual_seed(0)
    rows = torch.cat([uniform_paths([(4, 12)], g, torch.device("cpu"))[0] for _ in range(100)])
    assert torch.equal(rows.sum(1), torch.ones(400))
    counts = rows.sum(0)
    assert counts.min() > 15 and counts.max() < 55  # ~33 each (binomial, 400 draws)


def test_single_path_weight_step_trains_only_the_drawn_candidates():
    torch.manual_seed(0)
    net = IMDNSupernet(num_feat=16, num_block=1, partial_k=1, impl="naive").train()
    opt = torch.optim.SGD(net.weight_parameters(), lr=0.1)
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    hook = SinglePathSampling(torch.Generator().manual_seed(5))
    drawn = uniform_paths([(4, len(net.primitives))], torch.Generator().manual_seed(5), torch.device("cpu"))[0]
    batch = {"lq": torch.rand(2, 3, 12, 12), "gt": torch.rand(2, 3, 24, 24)}
    weight_step(net, batch, opt, StepContext(0, 1, 1), perturb=hook)
    for slot, row in enumerate(drawn):
        for o in range(len(net.primitives)):
            names = [n for n in before if n.startswith(f"IMDB1.c{slot + 1}._ops.{o}.")]
            moved = [not torch.equal(before[n], dict(net.named_parameters())[n]) for n in names]
            assert names and any(moved) == bool(row[o]), (slot, o)
    assert all(not m.skip_zero for m in net.modules() if isinstance(m, MixedOp))  # switched back on exit

