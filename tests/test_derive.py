"""Derivation from logits (method notes §1.1 Eq. 2, §2 DERIVE, §6 analysis 1, §8.16)."""
import math

import pytest
import torch

from srnas.search.derive import derive_connections, derive_ops, edge_scores, top2_margin

A = torch.tensor([[0.5, -0.3, 1.2, -1.0, 0.0], [0.1, 0.2, -0.4, 2.0, -2.5]])  # method notes §8 test input
NAMES = ("p0", "p1", "p2", "p3", "p4")


def _softmax(row):
    e = [math.exp(v) for v in row]
    return [v / sum(e) for v in e]


def test_derive_ops_is_row_argmax():
    assert derive_ops(A, NAMES) == ["p2", "p3"]


def test_derive_ops_ties_go_to_lowest_index():
    assert derive_ops(torch.tensor([[0.0, 1.0, 1.0, 0.0, 1.0], [0.0] * 5]), NAMES) == ["p1", "p0"]


def test_derive_ops_rejects_wrong_width():
    with pytest.raises(ValueError, match="alphas must be"):
        derive_ops(A, NAMES[:4])


def test_derive_connections_top2_ascending():
    # the released DLSR x2 paths B3<-[1,2], B4<-[2,3], B5<-[2,4], B6<-[4,5] (brief §1.4), given in descending score
    betas = [torch.tensor([0.1, 0.3]), torch.tensor([-1.0, 0.7, 0.5]), torch.tensor([0.0, 3.0, 1.0, 2.0]),
             torch.tensor([0.0, 0.1, 0.2, 0.9, 0.8])]
    assert derive_connections(betas) == [[1, 2], [2, 3], [2, 4], [4, 5]]


def test_derive_connections_ties_and_k():
    assert derive_connections([torch.tensor([0.5, 0.5, 0.5])]) == [[1, 2]]
    assert derive_connections([torch.tensor([0.2, 0.1, 0.3])], k=1) == [[3]]
    assert derive_connections([]) == []


def test_edge_scores_softmax_product():
    alphas = torch.tensor([[0.0, 0.1, 0.0, 0.0, 0.0], A[0].tolist()])
    gammas = torch.tensor([0.0, math.log(3.0)])  # softmax -> [0.25, 0.75]
    expected = [0.25 * max(_softmax(alphas[0].tolist())), 0.75 * max(_softmax(A[0].tolist()))]
    torch.testing.assert_close(edge_scores(alphas, gammas), torch.tensor(expected), rtol=0, atol=1e-7)
    assert abs(max(_softmax([0, 0.1, 0, 0, 0])) - 0.2165) < 1e-4  # method notes §8.1


def test_gammas_never_change_the_chosen_op():
    alphas = torch.randn(4, 5, generator=torch.Generator().manual_seed(0))
    for gammas in (torch.zeros(4), torch.tensor([5.0, -3.0, 0.2, 1.0])):
        product = torch.softmax(alphas, -1) * torch.softmax(gammas, 0).unsqueeze(1)
        assert [NAMES[i] for i in product.argmax(-1).tolist()] == derive_ops(alphas, NAMES)


def test_top2_margin():
    margins = []
    for row in A.tolist():
        b = sorted(_softmax(row), reverse=True)
        margins.append(b[0] - b[1])
    assert top2_margin(A) == pytest.approx(min(margins), abs=1e-6)
    assert top2_margin([A[:1], A[1:]]) == pytest.approx(min(margins), abs=1e-6)
    assert top2_margin(torch.zeros(3, 9)) == 0.0
