"""The pieces a latency table times, cut from a real derived network so every piece is the deployed module.

A network of any space is ``head -> num_block blocks -> tail`` (a space with network-level connections, DLSR, adds a
fusion conv in front of cells with two or more inputs); the space's arch names these parts (``archs.space.SpaceArch``)
and its spec gives the block. A block is a skeleton (activations, splits, concatenations, IMDN's CCA and 1x1 ``c5``,
DLSR's distillation convs, ``c4``, ``c5`` and ESA, the MRB residuals) plus its searchable ops. Every op is timed alone
at its position's real shape, and in context: a block with that op at its position and the reference op (the first
candidate) elsewhere. An op's entry is the reference op's lone time plus the difference its block makes, and the
skeleton is the reference block minus its reference ops' lone times; so what fuses with an op's neighbours at run time
(a conv + LeakyReLU becomes one kernel in ONNX Runtime) and the layout changes an op causes (ORT's blocked NCHWc
layout: reorders around ops it cannot run blocked) are counted where they happen (nn-Meter's lesson: predict kernels
as the runtime runs them, not framework ops alone).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from srnas.archs.genotype import Genotype
from srnas.archs.space import space_spec


class Head(nn.Module):
    """``fea_conv`` (DLSR: of the input times ``rgb_range``)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.fea_conv, self.rgb_range = net.fea_conv, float(getattr(net, "rgb_range", 1.0))

    def forward(self, x: Tensor) -> Tensor:
        return self.fea_conv(x * self.rgb_range if self.rgb_range != 1.0 else x)


class Tail(nn.Module):
    """Fusion of all blocks (the space's ``output_fusion``: IMDN ``c``, DLSR ``cout``), ``LR_conv``, stem residual,
    upsampler (and ``/ rgb_range``). Inputs: the ``num_block`` block outputs, then the head's output."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.fuse = net.output_fusion()
        self.LR_conv, self.upsampler = net.LR_conv, net.upsampler
        self.rgb_range = float(getattr(net, "rgb_range", 1.0))

    def forward(self, *xs: Tensor) -> Tensor:
        out = self.upsampler(self.LR_conv(self.fuse(torch.cat(xs[:-1], dim=1))) + xs[-1])
        return out / self.rgb_range if self.rgb_range != 1.0 else out


class Fusion(nn.Module):
    """The input fusion of a cell fed by k earlier cells (the space's ``input_fusion``; DLSR:
    LReLU(1x1(cat[B_a, B_b, ...])))."""

    def __init__(self, conv: nn.Module):
        super().__init__()
        self.conv = conv

    def forward(self, *xs: Tensor) -> Tensor:
        return self.conv(torch.cat(xs, dim=1))


def reference_genotype(space: str, primitives: Sequence[str], num_feat: int, num_block: int, scale: int) -> Genotype:
    """Every position the first candidate; with network-level connections, cells i >= 3 fed by the ``path_top_k``
    cells before them (a top-k derivation's shape; DLSR: cells i-2 and i-1)."""
    spec = space_spec(space)
    return Genotype.make(space, [primitives[0]] * spec.positions, num_feat, num_block,
                         spec.chain_connections(num_block), scale=scale)


def block_with(space: str, num_feat: int, ops: Sequence[str]) -> nn.Module:
    """One block of the space (IMDN: IMD block; DLSR: cell) with these ops at its positions, BN folded as at
    export."""
    from srnas.archs.ops import build_op
    from srnas.export.fold import compact

    spec = space_spec(space)
    slots = [build_op(op, ci, co) for op, (ci, co) in zip(ops, spec.slot_shapes(num_feat))]
    return compact(spec.block(num_feat, slots))[0]
