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

from srnas.archs.blocks import conv_lrelu, pixelshuffle_block
from srnas.archs.imdn import IMDN_SPACE
from srnas.registry import SPACES
from srnas.search.spaces.base import Supernet


@SPACES.register("imdn")
class IMDNSupernet(Supernet):
    """IMDN supernet: fea_conv -> num_block searchable IMD blocks -> c (1x1 fusion) -> LR_conv (+ fea) -> upsampler.

    Arguments as :class:`~srnas.search.spaces.base.Supernet`; defaults: the 12 IMDN-space ops, ``num_feat`` 64 (the
    slots are C->C, 3C/4->C, 3C/4->C, 3C/4->C/4), 6 IMD blocks, one ``(4, N_o)`` alpha.
    """

    spec = IMDN_SPACE

    def __init__(self, primitives: Sequence[str] = IMDN_SPACE.primitives, num_in_ch: int = 3, num_out_ch: int = 3,
                 num_feat: int = IMDN_SPACE.num_feat, num_block: int = IMDN_SPACE.num_block, upscale: int = 2,
                 partial_k: int = 1, per_block_alphas: bool = False, seed: int = 0, impl: str = "fast",
                 recompute: bool = False):
        super().__init__()
        self._stem(primitives, num_in_ch, num_feat, num_block, upscale, impl, per_block_alphas)
        for b in range(num_block):
            setattr(self, f"IMDB{b + 1}", self._mixed_block(b, partial_k, seed, impl, recompute))
        self.c = conv_lrelu(num_feat * num_block, num_feat)
        self.LR_conv = nn.Conv2d(num_feat, num_feat, 3, padding=1, bias=True)
        self.upsampler = pixelshuffle_block(num_feat, num_out_ch, upscale)
        self._make_alphas(len(self.slot_shapes()), per_block_alphas)

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
