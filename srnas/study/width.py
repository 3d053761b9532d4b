"""Fit a genotype's width to a parameter budget: the fairness rule of ``srnas study``.

Every architecture a study compares (searched, random, hand-designed) is retrained at the widest ``num_feat`` (a
multiple of 4: IMDN distils C/4 channels) whose network has at most ``params_max`` parameters, so differences in
PSNR come from the ops and connections, not from a bigger network. The parameter count grows strictly with
``num_feat`` (every conv's weight does), so the widest fitting width is found by bisection; each count builds the
network on the meta device (no memory, no init), about a millisecond.
"""
from __future__ import annotations

from typing import Optional

from srnas.archs.genotype import Genotype
from srnas.errors import SrnasError
from srnas.study.sample import count_params

MULTIPLE = 4


def with_shape(g: Genotype, num_feat: Optional[int] = None, num_block: Optional[int] = None) -> Genotype:
    """``g`` at another width and/or depth (ops shared by all blocks are repeated; provenance ``info`` kept).

    Raises:
        SrnasError: a per-block genotype, or DLSR connections, at another depth (they fix the depth).
    """
    nf = g.num_feat if num_feat is None else int(num_feat)
    nb = g.num_block if num_block is None else int(num_block)
    ops: list = [list(r) for r in g.ops]
    if nb != g.num_block:
        if not g.shared:
            raise SrnasError(f"a per-block genotype of {g.num_block} blocks cannot be built with {nb} blocks")
        if g.connections is not None:
            raise SrnasError(f"its connections describe {g.num_block} cells; cannot be built with {nb} cells")
        ops = list(g.ops[0])
    return Genotype.make(g.space, ops, nf, nb, g.connections, scale=g.scale, primitives=g.primitives,
                         info=dict(g.info))


def fit_width(g: Genotype, params_max: int, scale: int = 2, multiple: int = MULTIPLE) -> Genotype:
    """The genotype at the largest ``num_feat`` (a multiple of ``multiple``) whose network has at most
    ``params_max`` parameters at ``scale``; ``info`` gains ``params`` and ``params_budget``.

    Raises:
        SrnasError: even ``num_feat = multiple`` exceeds the budget.
    """
    def params(c: int) -> int:
        return count_params(with_shape(g, num_feat=c), scale)

    lo = multiple
    p_lo = params(lo)
    if p_lo > params_max:
        raise SrnasError(f"{params_max:,} params: the narrowest {g.space} network of this genotype "
                         f"(num_feat {lo}) has {p_lo:,} params")
    hi = lo * 2
    while params(hi) <= params_max:  # exponential search for a width over the budget
        lo, hi = hi, hi * 2
    while hi - lo > multiple:  # invariant: params(lo) <= budget < params(hi)
        mid = (lo + hi) // 2 // multiple * multiple
        if params(mid) <= params_max:
            lo = mid
        else:
            hi = mid
    out = with_shape(g, num_feat=lo)
    return Genotype.make(out.space, out.ops, out.num_feat, out.num_block, out.connections, scale=out.scale,
                         primitives=out.primitives,
                         info={**g.info, "params": params(lo), "params_budget": int(params_max)})


def fit_shape(g: Genotype, params_budget: int, tolerance: float, num_blocks: tuple[int, int], scale: int = 2,
              multiple: int = MULTIPLE) -> Genotype:
    """The genotype at the ``num_feat`` (a multiple of ``multiple``) and ``num_block`` whose params are within
    ``± tolerance`` of ``params_budget``: depths are tried nearest ``g.num_block`` first (then the shallower), and at
    each the width closest to the budget; ``info`` gains ``params``, ``params_budget`` and ``params_deviation``.

    One width step changes the params of a small IMDN by 15-25 %, so the width alone cannot land within a few per
    cent; one block changes them by ~1/num_block, and the two together can.

    Raises:
        SrnasError: no depth in ``num_blocks`` lands within the tolerance (or ``g`` fixes its depth: DLSR
            connections).
    """
    lo, hi = num_blocks
    depths = sorted(range(lo, hi + 1), key=lambda nb: (abs(nb - g.num_block), nb))
    tried = []
    for nb in depths:
        try:
            shaped = with_shape(g, num_block=nb)
        except SrnasError:  # DLSR connections fix the depth
            continue

        def params(c: int) -> int:
            return count_params(with_shape(shaped, num_feat=c), scale)

        try:
            below = fit_width(shaped, params_budget, scale, multiple).num_feat
        except SrnasError:
            continue
        best = min((below, below + multiple), key=lambda c: abs(params(c) - params_budget))
        p = params(best)
        tried.append(f"{best}x{nb}: {p:,}")
        if abs(p / params_budget - 1) <= tolerance:
            out = with_shape(shaped, num_feat=best)
            return Genotype.make(out.space, out.ops, out.num_feat, out.num_block, out.connections, scale=out.scale,
                                 primitives=out.primitives,
                                 info={**g.info, "params": p, "params_budget": int(params_budget),
                                       "params_deviation": p / params_budget - 1})
    raise SrnasError(f"no num_feat (multiple of {multiple}) x num_block in {lo}..{hi} lands within "
                     f"{tolerance:.0%} of {params_budget:,} params (closest per depth: {'; '.join(tried) or 'none'})")
