"""Random architectures: genotypes drawn uniformly from a search space (the random-search baseline of NAS studies).

A draw picks every searchable op uniformly from the space's candidates (shared by all blocks, as the searched
genotypes) and, in the DLSR space, the inputs of every cell i >= 3 uniformly among the pairs of earlier cells, which
is uniform over the whole space. With ``params_max`` the draws above the budget are rejected, which is uniform over the
genotypes within the budget.
"""
from __future__ import annotations

import itertools
from typing import Optional, Sequence

import numpy as np
import torch

from srnas.archs.genotype import Genotype
from srnas.archs.space import SpaceSpec
from srnas.errors import SrnasError
from srnas.registry import SPACE_SPECS


def count_params(genotype: Genotype, scale: int) -> int:
    """Parameters of the network a genotype describes (built on the meta device: no memory, no init cost)."""
    from srnas.archs import create_model

    with torch.device("meta"):
        model = create_model(genotype=genotype, scale=scale)
    return sum(p.numel() for p in model.parameters())


class ParamModel:
    """Exact parameter count of any genotype of one space shape, without building it: the count of a reference
    network plus, per block and position, the difference of the chosen op's parameters (ops are independent)."""

    def __init__(self, space: str, num_feat: int, num_block: int, primitives: Sequence[str], scale: int):
        from srnas.archs.ops import build_op

        spec = SPACE_SPECS.get(space)
        self.num_block = num_block
        with torch.device("meta"):
            self.table = [{p: sum(t.numel() for t in build_op(p, ci, co).parameters()) for p in primitives}
                          for ci, co in spec.slot_shapes(num_feat)]
        ref_ops = [primitives[0]] * len(self.table)
        ref = Genotype.make(space, ref_ops, num_feat, num_block, spec.chain_connections(num_block))
        self.base = count_params(ref, scale) - num_block * sum(t[primitives[0]] for t in self.table)

    def __call__(self, g: Genotype) -> int:
        return self.base + sum(t[op] for row in g.ops for t, op in zip(self.table, row))

    def minimum(self) -> int:
        return self.base + self.num_block * sum(min(t.values()) for t in self.table)


def draw(space: str | SpaceSpec, rng: np.random.Generator, num_feat: int, num_block: int,
         primitives: Sequence[str], scale: int) -> Genotype:
    """One uniform draw from the space."""
    spec = space if isinstance(space, SpaceSpec) else SPACE_SPECS.get(space)
    ops = [str(primitives[i]) for i in rng.integers(0, len(primitives), spec.positions)]
    connections = None
    if spec.path_top_k:  # cell i >= 3: a uniform k-subset of the earlier cells (DLSR: top-2 paths)
        connections = []
        for i in range(3, num_block + 1):
            pairs = list(itertools.combinations(range(1, i), spec.path_top_k))  # ascending, as derived genotypes
            connections.append(list(pairs[rng.integers(0, len(pairs))]))
    return Genotype.make(spec.name, ops, num_feat, num_block, connections, scale=scale, primitives=tuple(primitives))


def sample_genotypes(space: str, n: int, seed: int = 0, params_max: Optional[int] = None, scale: int = 2,
                     num_feat: Optional[int] = None, num_block: Optional[int] = None,
                     primitives: Optional[Sequence[str]] = None, unique: bool = True,
                     max_tries: int = 1_000_000) -> list[Genotype]:
    """``n`` genotypes drawn uniformly from ``space`` (reproducible by ``seed``).

    Args:
        space: a registered space (``imdn``, ``dlsr``).
        n: how many.
        seed: RNG seed.
        params_max: reject draws with more parameters (at ``scale``).
        scale, num_feat, num_block, primitives: the space's shape (defaults: the paper's).
        unique: no genotype twice (uniform sampling without replacement).
        max_tries: give up (SrnasError) after this many draws.
    """
    if space not in SPACE_SPECS:
        raise SrnasError(f"unknown space {space!r}; choose one of: {', '.join(SPACE_SPECS.keys())}")
    spec = SPACE_SPECS.get(space)
    num_feat, num_block = num_feat or spec.num_feat, num_block or spec.num_block
    primitives = tuple(primitives or spec.primitives)
    params_of = ParamModel(space, num_feat, num_block, primitives, scale)  # DLSR fusion convs: 2C->C whatever pair
    if params_max is not None and params_of.minimum() > params_max:
        raise SrnasError(f"--params-max {params_max:,}: the smallest {space} network of this shape has "
                         f"{params_of.minimum():,} params")
    rng = np.random.default_rng(seed)
    out: list[Genotype] = []
    seen = set()
    for tries in range(max_tries):
        if len(out) == n:
            break
        g = draw(spec, rng, num_feat, num_block, primitives, scale)
        key = (g.ops, g.connections)
        if unique and key in seen:
            continue
        params = params_of(g)
        if params_max is not None and params > params_max:
            continue
        seen.add(key)
        out.append(Genotype.make(g.space, g.ops[0], num_feat, num_block, g.connections, scale=scale,
                                 primitives=primitives,
                                 info={"method": "random", "seed": seed, "index": len(out), "params": params}))
    if len(out) < n:
        budget = f" under {params_max:,} params" if params_max is not None else ""
        raise SrnasError(f"found only {len(out)} of {n} genotypes{budget} in {max_tries} draws")
    return out
