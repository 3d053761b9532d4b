"""What a search space is, as data: one :class:`SpaceSpec` per space, and :class:`SpaceArch`, the base of the
networks its genotypes describe.

A space's arch module (``archs/imdn.py``, ``archs/dlsr.py``) registers its spec in
:data:`srnas.registry.SPACE_SPECS` next to its derived network (``ARCHS``, same name); its supernet is registered
under the same name in :data:`srnas.registry.SPACES` by ``search/spaces/<name>.py`` (``archs/`` never imports
``search/``). Everything else (genotype validation, option checks, random sampling, study baselines) reads a space
through its spec, so a new space touches only its own modules, its ops and this registry.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

from torch import nn

from srnas.archs.genotype import Genotype
from srnas.errors import SrnasError
from srnas.registry import ARCHS, SPACE_SPECS


@dataclass(frozen=True)
class SpaceSpec:
    """One search space.

    Attributes:
        name: the space's name (genotype ``space``, ``network_g.type``); its derived network is ``ARCHS[name]``.
        primitives: default candidates, in alpha column order (DARTS ``PRIMITIVES``).
        ops: every op a genotype of the space may use (primitives, extras, controls).
        block: the block class; ``block(num_feat, slots)`` builds one and ``block.slot_shapes(num_feat)`` gives the
            ``(c_in, c_out)`` of its searchable positions.
        num_feat, num_block: default width and depth (the papers').
        feat_multiple: ``num_feat`` must be a multiple of it (IMDN distils C/4 channels).
        path_top_k: network-level connections: 0 = none (a chain); k = cells i >= 3 take their inputs from earlier
            cells, k of them in a derived (or randomly drawn) genotype (DLSR: top-2, brief §1.3).
        min_lq: the smallest LR side the networks run on, and ``min_lq_why`` the layer that needs it (DLSR: ESA).
        hand_designed: ``(row name, genotype file)`` of the space's fixed networks (study baselines).
        published_nas: the row names of ``hand_designed`` that are published NAS results, not hand-designed (DLSR's
            released cell); the study reports them as "published NAS cell".
    """

    name: str
    primitives: tuple[str, ...]
    ops: tuple[str, ...]
    block: type
    num_feat: int
    num_block: int = 6
    feat_multiple: int = 1
    path_top_k: int = 0
    min_lq: int = 1
    min_lq_why: str = ""
    hand_designed: tuple[tuple[str, str], ...] = ()
    published_nas: tuple[str, ...] = ()

    @property
    def arch(self) -> type:
        """The derived network class (``create_model(genotype=...)`` builds it)."""
        return ARCHS.get(self.name)

    @property
    def positions(self) -> int:
        """Searchable positions per block (alpha rows)."""
        return len(self.slot_shapes(self.num_feat))

    def slot_shapes(self, num_feat: int) -> list[tuple[int, int]]:
        """``(c_in, c_out)`` of each searchable position of a block of width ``num_feat``."""
        return self.block.slot_shapes(num_feat)

    def chain_connections(self, num_block: int) -> Optional[list[list[int]]]:
        """Cells i >= 3 fed by the ``path_top_k`` cells before them (a top-k derivation's shape); None without
        network-level connections."""
        if not self.path_top_k:
            return None
        return [list(range(max(i - self.path_top_k, 1), i)) for i in range(3, num_block + 1)]


def register_space(spec: SpaceSpec) -> SpaceSpec:
    """Register ``spec`` in ``SPACE_SPECS`` under its name (a duplicate name fails at import)."""
    return SPACE_SPECS.register(spec.name)(spec)


def space_spec(name: str) -> SpaceSpec:
    """The registered space ``name`` (SrnasError listing the registered names otherwise)."""
    return SPACE_SPECS.get(name)


class SpaceArch(nn.Module):
    """Base of a space's derived network: genotype in (:meth:`from_genotype`) and out (:meth:`genotype`).

    Subclasses set ``spec`` and keep ``ops``, ``num_feat``, ``num_block``, ``upscale`` (and ``connections`` when the
    space has network-level connections). The latency tables (``latency.parts``) cut the fixed parts out of a derived
    network: ``fea_conv`` (of the input times ``rgb_range``), then the tail :meth:`output_fusion`, ``LR_conv`` (+ the
    stem), ``upsampler``; a space with network-level connections also gives :meth:`input_fusion`.
    """

    spec: SpaceSpec
    connections: Optional[tuple[tuple[int, ...], ...]] = None

    def _checked(self, ops: Sequence, num_feat: int, num_block: int,
                 connections: Optional[Sequence[Sequence[int]]] = None) -> Genotype:
        """The validated :class:`Genotype` of constructor arguments; errors start with the arch name."""
        try:
            return Genotype.make(self.spec.name, ops, num_feat, num_block, connections)
        except SrnasError as e:
            raise SrnasError(f"{self.spec.name}: {e}") from None

    @classmethod
    def from_genotype(cls, genotype: Genotype, upscale: int, **kwargs: Any) -> "SpaceArch":
        """Build the network a genotype of this space describes, at scale ``upscale``."""
        name = cls.spec.name
        if genotype.space != name:
            raise SrnasError(f"{name}: genotype is of the {genotype.space!r} space")
        if cls.spec.path_top_k:
            kwargs["connections"] = None if genotype.connections is None else [list(c) for c in genotype.connections]
        return cls(num_feat=genotype.num_feat, num_block=genotype.num_block, upscale=upscale,
                   ops=[list(r) for r in genotype.ops], **kwargs)

    def output_fusion(self) -> nn.Module:
        """The fusion of all block outputs in front of ``LR_conv`` (the tail's first layer; IMDN ``c``, DLSR
        ``cout``)."""
        raise NotImplementedError(f"{type(self).__name__}.output_fusion")

    @staticmethod
    def input_fusion(k: int, num_feat: int) -> nn.Module:
        """A new fusion of a cell fed by ``k`` earlier cells (spaces with network-level connections; DLSR ``c<i>``)."""
        raise NotImplementedError("input_fusion: the space has no network-level connections")

    def genotype(self) -> Genotype:
        """This network's architecture as a genotype (scale = ``upscale``)."""
        return Genotype.make(self.spec.name, self.ops, self.num_feat, self.num_block, self.connections,
                             scale=self.upscale)
