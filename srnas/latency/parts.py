"""The pieces a latency table times, cut from a real derived network so every piece is the deployed module.

A network of either space is ``head -> num_block blocks -> tail`` (DLSR adds a fusion conv in front of cells with two
or more inputs). A block is a skeleton (activations, splits, concatenations, IMDN's CCA and 1x1 ``c5``, DLSR's
distillation convs, ``c4``, ``c5`` and ESA, the MRB residuals) plus its searchable ops. Every op is timed alone at
its position's real shape, and in context: a block with that op at its position and the reference op (the first
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


class Head(nn.Module):
    """``fea_conv`` (DLSR: of the input times ``rgb_range``)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.fea_conv, self.rgb_range = net.fea_conv, float(getattr(net, "rgb_range", 1.0))

    def forward(self, x: Tensor) -> Tensor:
        return self.fea_conv(x * self.rgb_range if self.rgb_range != 1.0 else x)


class Tail(nn.Module):
    """Fusion of all blocks (IMDN ``c``, DLSR ``cout``), ``LR_conv``, stem residual, upsampler (and ``/ rgb_range``).
    Inputs: the ``num_block`` block outputs, then the head's output."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.fuse = net.c if hasattr(net, "c") else net.cout
        self.LR_conv, self.upsampler = net.LR_conv, net.upsampler
        self.rgb_range = float(getattr(net, "rgb_range", 1.0))

    def forward(self, *xs: Tensor) -> Tensor:
        out = self.upsampler(self.LR_conv(self.fuse(torch.cat(xs[:-1], dim=1))) + xs[-1])
        return out / self.rgb_range if self.rgb_range != 1.0 else out


class Fusion(nn.Module):
    """DLSR's input fusion of a cell fed by k earlier cells: LReLU(1x1(cat[B_a, B_b, ...]))."""

    def __init__(self, conv: nn.Module):
        super().__init__()
        self.conv = conv

    def forward(self, *xs: Tensor) -> Tensor:
        return self.conv(torch.cat(xs, dim=1))


def reference_genotype(space: str, primitives: Sequence[str], num_feat: int, num_block: int, scale: int) -> Genotype:
    """Every position the first candidate; DLSR cells i >= 3 fed by cells i-2 and i-1 (a top-2 derivation's shape)."""
    positions = 4 if space == "imdn" else 3
    conns = [[i - 2, i - 1] for i in range(3, num_block + 1)] if space == "dlsr" else None
    return Genotype.make(space, [primitives[0]] * positions, num_feat, num_block, conns, scale=scale)


def slot_shapes(space: str, num_feat: int) -> list[tuple[int, int]]:
    """(c_in, c_out) of the searchable positions of one block."""
    from srnas.archs.blocks import IMDModule

    return IMDModule.slot_shapes(num_feat) if space == "imdn" else [(num_feat, num_feat)] * 3


def block_with(space: str, num_feat: int, ops: Sequence[str]) -> nn.Module:
    """One block (IMDN: IMD block; DLSR: cell) with these ops at its positions, BN folded as at export."""
    from srnas.archs.blocks import DLSRCell, IMDModule
    from srnas.archs.ops import build_op
    from srnas.export.fold import compact

    slots = [build_op(op, ci, co) for op, (ci, co) in zip(ops, slot_shapes(space, num_feat))]
    block = IMDModule(num_feat, slots) if space == "imdn" else DLSRCell(num_feat, slots)
    return compact(block)[0]
