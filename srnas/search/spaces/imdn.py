"""IMDN search space (SA-DARTS §4.4 / §6.7.2; method notes §5.2): IMDN's macro with the four 3x3 convs of every IMD
block replaced by mixed ops over 12 candidates.

Layer names equal IMDN's (brief §2.2: ``fea_conv``, ``IMDB<i>.c<j>``, ``c.0``, ``LR_conv``, ``upsampler.0``), so the
non-searchable weights of a supernet line up with the derived network's; a mixed slot holds its candidates under
``IMDB<i>.c<j>._ops.<k>``. Input and output are RGB in [0, 1], as IMDN.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import Tensor, nn

from srnas.archs.blocks import IMDModule, conv_lrelu, pixelshuffle_block
from srnas.archs.ops import IMDN_PRIMITIVES
from srnas.registry import SPACES
from srnas.search.mixed_op import MixedOp
from srnas.search.spaces import Supernet, slot_seed


@SPACES.register("imdn")
class IMDNSupernet(Supernet):
    """IMDN supernet: fea_conv -> num_block searchable IMD blocks -> c (1x1 fusion) -> LR_conv (+ fea) -> upsampler.

    Args:
        primitives: candidate op names, alpha column order (default: the 12 IMDN-space ops).
        num_in_ch, num_out_ch: image channels (3).
        num_feat: width (64 in IMDN; the slots are C->C, 3C/4->C, 3C/4->C, 3C/4->C/4).
        num_block: IMD blocks (6).
        upscale: SR scale.
        partial_k: SAC partial-channel K (1 = DARTS).
        per_block_alphas: one (4, N_o) alpha per block instead of one shared by all blocks [I].
        seed: seed of the channel sampling (K > 1).
        impl: how the mixed ops evaluate their sum: ``"fast"`` (fused, channels-last; equal to the loop up to float
            rounding) or ``"naive"`` (the reference candidate loop); see :mod:`srnas.search.mixed_op`.
        recompute: fast path: recompute the mixed ops' cheap candidate heads in backward (about half the step's peak
            memory for a few % more time).
    """

    space_name = "imdn"

    def __init__(self, primitives: Sequence[str] = IMDN_PRIMITIVES, num_in_ch: int = 3, num_out_ch: int = 3,
                 num_feat: int = 64, num_block: int = 6, upscale: int = 2, partial_k: int = 1,
                 per_block_alphas: bool = False, seed: int = 0, impl: str = "fast",
                 recompute: bool = False):
        super().__init__()
        self.primitives = tuple(primitives)
        self.num_feat, self.num_block, self.upscale = num_feat, num_block, upscale
        self.impl, self.channels_last = impl, impl == "fast"
        self.per_block_alphas = per_block_alphas
        self.fea_conv = nn.Conv2d(num_in_ch, num_feat, 3, padding=1, bias=True)
        shapes = self.slot_shapes()
        for b in range(num_block):
            slots = [MixedOp(self.primitives, c_in, c_out, partial_k, slot_seed(seed, len(shapes) * b + j), impl)
                     for j, (c_in, c_out) in enumerate(shapes)]
            for s in slots:
                s.recompute = recompute
            setattr(self, f"IMDB{b + 1}", IMDModule(num_feat, slots))
        self.c = conv_lrelu(num_feat * num_block, num_feat)
        self.LR_conv = nn.Conv2d(num_feat, num_feat, 3, padding=1, bias=True)
        self.upsampler = pixelshuffle_block(num_feat, num_out_ch, upscale)
        self._make_alphas(len(shapes), per_block_alphas)

    def slot_shapes(self) -> list[tuple[int, int]]:
        return IMDModule.slot_shapes(self.num_feat)

    def forward(self, x: Tensor, block_weights: Optional[Sequence[Tensor]] = None) -> Tensor:
        """Super-resolve ``x`` (N, 3, H, W) in [0, 1] to (N, 3, sH, sW).

        Args:
            x: LR batch.
            block_weights: one ``(4, N_o)`` mixing-weight tensor per block; ``None`` = ``mixing_weights()``.
        """
        weights = self._block_weights(block_weights)
        fea = self.fea_conv(self._layout(x))
        h, outs = fea, []
        for b, w in enumerate(weights):
            h = getattr(self, f"IMDB{b + 1}")(h, w)
            outs.append(h)
        lr = self.LR_conv(self.c(torch.cat(outs, dim=1))) + fea  # IMDN: LR_conv(c(cat B_i)) + fea_conv
        return self.upsampler(lr)
