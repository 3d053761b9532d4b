"""DLSR retrain network (Huang et al., "Lightweight Image Super-Resolution with Hierarchical and Differentiable
Neural Architecture Search", arXiv 2105.03939; reference code DawnHH/DLSR-PyTorch ``models/rfdn_6_train_beta21.py``),
built from a genotype's content: the 3 MRB ops shared by (or given per) cell and the network-level connections.

Range convention of srnas: every model takes and returns RGB in [0, 1]. DLSR was trained on [0, 255] (brief §1.3),
so it multiplies its input by ``rgb_range`` (255) and divides its output by it; the released weights are used as is.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn

from srnas.archs.blocks import ESA_MIN_LQ, DLSRCell, conv_lrelu, pixelshuffle_block
from srnas.archs.ops import CONTROL_PRIMITIVES, DLSR_PRIMITIVES, EXTRA_PRIMITIVES, build_op
from srnas.archs.space import SpaceArch, SpaceSpec, register_space
from srnas.registry import ARCHS

# The released x2 model "beta21" (brief §1.4): MRB ops and the inputs of cells 3..6 (1-based, concatenation order)
DLSR_X2_OPS = ("conv_1x1", "sep_conv_7x7", "sep_conv_5x5")
DLSR_X2_CONNECTIONS = ((1, 2), (2, 3), (2, 4), (4, 5))

# brief §1.1-1.3: cells of three mixed residual blocks over the 9 DLSR ops; cells 3..N take the top-2 earlier cells
DLSR_SPACE = register_space(SpaceSpec(
    name="dlsr", primitives=DLSR_PRIMITIVES, ops=DLSR_PRIMITIVES + EXTRA_PRIMITIVES + CONTROL_PRIMITIVES,
    block=DLSRCell, num_feat=48, path_top_k=2, min_lq=ESA_MIN_LQ, min_lq_why="ESA",
    hand_designed=(("DLSR", "options/genotypes/dlsr_x2_released.json"),), published_nas=("DLSR",)))


@ARCHS.register("dlsr")
class DLSR(SpaceArch):
    """DLSR macro (brief §1.3-1.4)::

        f0 = fea_conv(x);  B1 = cell(f0);  B2 = cell(B1)
        cell i >= 3 input: connections[i-3] = [a] -> B_a;  [a, b, ...] -> c{i} = LReLU(1x1(cat[B_a, B_b, ...]))
        out = cout = LReLU(1x1(cat[B1..BN]));  SR = upsampler(LR_conv(out) + f0)

    Args:
        num_in_ch: input channels (3).
        num_out_ch: output channels (3).
        num_feat: cell width C (48; the tiny model uses 18).
        num_block: number of cells N (6).
        upscale: SR factor (one conv + PixelShuffle).
        ops: 3 op names of ``ops.DLSR_PRIMITIVES`` (+ skip_connect/none) shared by all cells, or ``num_block`` such
            lists. Default: the released model's.
        connections: inputs of cells 3..N, each a list of earlier 1-based cell indices in concatenation order (the
            order fixes the fusion conv's weights); None = plain chain (RFDN). Default: the released model's, which
            needs ``num_block=6``.
        rgb_range: the range the network computes in (255 for the released weights).

    Input ``(N, num_in_ch, H, W)`` RGB in [0, 1]; output ``(N, num_out_ch, H*s, W*s)`` in about [0, 1] (not clamped).
    ESA max-pools with kernel 7 at half resolution, so H, W >= ``ESA_MIN_LQ`` (15).
    """

    spec = DLSR_SPACE

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 48, num_block: int = 6,
                 upscale: int = 2, ops: Sequence = DLSR_X2_OPS,
                 connections: Optional[Sequence[Sequence[int]]] = DLSR_X2_CONNECTIONS, rgb_range: float = 255.0):
        super().__init__()
        spec = self._checked(ops, num_feat, num_block, connections)
        self.ops, self.connections = spec.ops, spec.connections
        self.num_feat, self.num_block = num_feat, num_block
        self.upscale = upscale
        self.rgb_range = float(rgb_range)
        self.fea_conv = nn.Conv2d(num_in_ch, num_feat, 3, padding=1, bias=True)
        for i, row in enumerate(self.ops, start=1):
            self.add_module(f"B{i}", DLSRCell(num_feat, [build_op(name, num_feat, num_feat) for name in row]))
        for i, conn in enumerate(self.connections or (), start=3):
            if len(conn) > 1:  # a single input feeds the cell directly, without fusion conv
                self.add_module(f"c{i}", self.input_fusion(len(conn), num_feat))
        self.cout = conv_lrelu(num_block * num_feat, num_feat)
        self.LR_conv = nn.Conv2d(num_feat, num_feat, 3, padding=1, bias=True)
        self.upsampler = pixelshuffle_block(num_feat, num_out_ch, upscale)

    @staticmethod
    def input_fusion(k: int, num_feat: int) -> nn.Module:
        return conv_lrelu(k * num_feat, num_feat)  # DLSR brief §1.4: LReLU(1x1(cat[B_a, B_b, ...]))

    def output_fusion(self) -> nn.Module:
        return self.cout

    def _cell_input(self, i: int, f0: torch.Tensor, outs: list[torch.Tensor]) -> torch.Tensor:
        if i == 1:
            return f0
        if i == 2 or self.connections is None:
            return outs[-1]
        conn = self.connections[i - 3]
        if len(conn) == 1:
            return outs[conn[0] - 1]
        return getattr(self, f"c{i}")(torch.cat([outs[j - 1] for j in conn], dim=1))  # DLSR brief §1.4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.rgb_range != 1.0:
            x = x * self.rgb_range  # DLSR computes in [0, 255]
        f0 = self.fea_conv(x)
        outs: list[torch.Tensor] = []
        for i in range(1, self.num_block + 1):
            outs.append(getattr(self, f"B{i}")(self._cell_input(i, f0, outs)))
        out = self.upsampler(self.LR_conv(self.cout(torch.cat(outs, dim=1))) + f0)
        if self.rgb_range != 1.0:
            out = out / self.rgb_range
        return out
