"""IMDN (Hui et al., "Lightweight Image Super-Resolution with Information Multi-distillation Network", ACM MM 2019;
reference code Zheng222/IMDN ``model/architecture.py``), with its 4 convs per block taken from the IMDN search space.

``ops=None`` is the official IMDN: every slot a bare 3x3 conv with bias, so the official checkpoints load strictly
(after stripping DataParallel's ``module.``, see ``archs/weights.py``).
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn

from srnas.archs.blocks import IMDModule, conv_lrelu, pixelshuffle_block
from srnas.archs.ops import CONTROL_PRIMITIVES, IMDN_PRIMITIVES, build_op
from srnas.archs.space import SpaceArch, SpaceSpec, register_space
from srnas.registry import ARCHS

IMDN_OPS = ("conv3", "conv3", "conv3", "conv3")  # official IMDN: four 3x3 convs per block

# SA-DARTS §4.4 / §6.7.2: IMDN's macro, every IMD block's four 3x3 convs searched over 12 candidates
IMDN_SPACE = register_space(SpaceSpec(
    name="imdn", primitives=IMDN_PRIMITIVES, ops=IMDN_PRIMITIVES + CONTROL_PRIMITIVES, block=IMDModule, num_feat=64,
    feat_multiple=4, hand_designed=(("IMDN", "options/genotypes/imdn.json"),)))


@ARCHS.register("imdn")
class IMDN(SpaceArch):
    """IMDN macro (brief §2.1): ``fea_conv``, blocks ``IMDB1..N``, ``c`` = LReLU(1x1 over cat[B1..BN]),
    ``LR_conv`` + stem residual, ``upsampler`` = conv3x3 + PixelShuffle.

    Args:
        num_in_ch: input channels (3).
        num_out_ch: output channels (3).
        num_feat: block width C (64); slots are c1 C->C, c2/c3 3C/4->C, c4 3C/4->C/4.
        num_block: number of IMD blocks (6).
        upscale: SR factor; one conv + PixelShuffle for every scale, as IMDN.
        ops: None for the official IMDN, 4 op names of ``ops.IMDN_PRIMITIVES`` shared by all blocks, or a list of
            ``num_block`` such lists.
        rgb_range: the range the network computes in; IMDN uses [0, 1], so 1.0 (see ``DLSR`` for 255).

    Input ``(N, num_in_ch, H, W)`` RGB in [0, 1]; output ``(N, num_out_ch, H*s, W*s)`` in about [0, 1] (not clamped).
    """

    spec = IMDN_SPACE

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64, num_block: int = 6,
                 upscale: int = 2, ops: Optional[Sequence] = None, rgb_range: float = 1.0):
        super().__init__()
        self.ops = self._checked(IMDN_OPS if ops is None else ops, num_feat, num_block).ops
        self.num_feat = num_feat
        self.num_block = num_block
        self.upscale = upscale
        self.rgb_range = float(rgb_range)
        self.fea_conv = nn.Conv2d(num_in_ch, num_feat, 3, padding=1, bias=True)
        shapes = IMDModule.slot_shapes(num_feat)
        for i, row in enumerate(self.ops, start=1):
            slots = [build_op(name, c_in, c_out) for name, (c_in, c_out) in zip(row, shapes)]
            self.add_module(f"IMDB{i}", IMDModule(num_feat, slots))
        self.c = conv_lrelu(num_feat * num_block, num_feat)
        self.LR_conv = nn.Conv2d(num_feat, num_feat, 3, padding=1, bias=True)
        self.upsampler = pixelshuffle_block(num_feat, num_out_ch, upscale)

    def output_fusion(self) -> nn.Module:
        return self.c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.rgb_range != 1.0:
            x = x * self.rgb_range
        f0 = self.fea_conv(x)
        outs = []
        h = f0
        for i in range(1, self.num_block + 1):
            h = getattr(self, f"IMDB{i}")(h)
            outs.append(h)
        out = self.upsampler(self.LR_conv(self.c(torch.cat(outs, dim=1))) + f0)
        if self.rgb_range != 1.0:
            out = out / self.rgb_range
        return out
