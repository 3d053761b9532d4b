"""DLSR search space (brief §1.1-1.3; method notes §5.1): DLSR's search net ``RFDN_beta1``.

Cell level: every cell is an RFDB with three mixed residual blocks over the 9 DLSR ops, one ``(3, N_o)`` alpha shared
by all cells (or one per cell). Network level::

    f0 = fea_conv(x);  B1 = cell(f0);  B2 = cell(B1)
    in_i = LReLU(conv1x1_{(i-1)C -> C}(cat[b_i[0] * B1, ..., b_i[i-2] * B_{i-1}])),  b_i = softmax(betas[i-3])
    B_i = cell(in_i) for i = 3..N
    SR = upsampler(LR_conv(cout(cat[B1..BN])) + f0)

Layer names follow the DLSR checkpoint (``fea_conv``, ``B<i>``, fusion ``c<i>.0``, ``cout.0``, ``LR_conv``,
``upsampler.0``); a mixed slot holds its candidates under ``B<i>.c<j>_r._ops.<k>``. The DLSR code works on [0, 255];
srnas model boundaries are RGB in [0, 1], so the input is multiplied by ``rgb_range`` and the output divided by it,
as the derived :class:`srnas.archs.dlsr.DLSR` does.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from srnas.archs.blocks import conv_lrelu, pixelshuffle_block
from srnas.archs.dlsr import DLSR_SPACE
from srnas.registry import SPACES
from srnas.search.derive import derive_connections
from srnas.search.spaces.base import Supernet


@SPACES.register("dlsr")
class DLSRSupernet(Supernet):
    """DLSR supernet (``RFDN_beta1``): searchable cells plus betas over earlier cells as inputs of cells 3..N.

    Arguments as :class:`~srnas.search.spaces.base.Supernet`, plus ``rgb_range``, the network's internal pixel range
    (DLSR: 255). Defaults: the 9 DLSR ops (add ``skip_connect``/``none`` from ``EXTRA_PRIMITIVES`` for the skip-bias
    experiments), ``num_feat`` 48, 6 cells (betas of sizes 2..num_block-1), one ``(3, N_o)`` alpha.
    """

    spec = DLSR_SPACE

    def __init__(self, primitives: Sequence[str] = DLSR_SPACE.primitives, num_in_ch: int = 3, num_out_ch: int = 3,
                 num_feat: int = DLSR_SPACE.num_feat, num_block: int = DLSR_SPACE.num_block, upscale: int = 2,
                 partial_k: int = 1, per_block_alphas: bool = False, seed: int = 0, rgb_range: float = 255.0,
                 impl: str = "fast", recompute: bool = False):
        super().__init__()
        self._stem(primitives, num_in_ch, num_feat, num_block, upscale, impl, per_block_alphas)
        self.rgb_range = float(rgb_range)
        for b in range(num_block):  # cells of three mixed residual blocks (brief §1.2)
            setattr(self, f"B{b + 1}", self._mixed_block(b, partial_k, seed, impl, recompute))
        for i in range(3, num_block + 1):  # fusion of all earlier cells B1..B_{i-1} (brief §1.3)
            setattr(self, f"c{i}", conv_lrelu((i - 1) * num_feat, num_feat))
        self.cout = conv_lrelu(num_block * num_feat, num_feat)
        self.LR_conv = nn.Conv2d(num_feat, num_feat, 3, padding=1, bias=True)
        self.upsampler = pixelshuffle_block(num_feat, num_out_ch, upscale)
        self._make_alphas(len(self.slot_shapes()), per_block_alphas)
        # brief §1.3: beta_i in R^{i-1} for cells i = 3..N, init 1e-3 * randn
        self.betas = nn.ParameterList(nn.Parameter(1e-3 * torch.randn(i - 1)) for i in range(3, num_block + 1))

    def path_alphas(self) -> list[Tensor]:
        return list(self.betas)

    def _connections(self) -> list[list[int]]:
        return derive_connections(list(self.betas), k=self.spec.path_top_k)

    def forward(self, x: Tensor, block_weights: Optional[Sequence[Tensor]] = None) -> Tensor:
        """Super-resolve ``x`` (N, 3, H, W) in [0, 1] to (N, 3, sH, sW), both in [0, 1] (output not clamped).

        Args:
            x: LR batch.
            block_weights: one ``(3, N_o)`` mixing-weight tensor per cell; ``None`` = ``mixing_weights()``.
        """
        weights = self._block_weights(block_weights)
        fea = self.fea_conv(self._layout(x) * self.rgb_range)  # DLSR works on [0, 255] (brief §1.3)
        cells: list[Tensor] = []
        h = fea
        for b, w in enumerate(weights):
            i = b + 1
            if i >= 3:  # RFDN_beta1: in_i = LReLU(conv1x1(cat[b_i[j] * B_j]))
                path = F.softmax(self.betas[i - 3], dim=0)
                h = getattr(self, f"c{i}")(torch.cat([path[j] * cells[j] for j in range(i - 1)], dim=1))
            h = getattr(self, f"B{i}")(h, w)
            cells.append(h)
        lr = self.LR_conv(self.cout(torch.cat(cells, dim=1))) + fea
        return self.upsampler(lr) / self.rgb_range
