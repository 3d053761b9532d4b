"""Building blocks shared by the derived networks and the supernets.

The IMD block and the DLSR cell take their searchable convolutions as *slots*: modules passed in by the caller. A
derived network passes fixed ops (``ops.build_op``); a supernet passes mixed ops and calls ``forward(x, weights)`` with
one row of mixing weights per slot, as DARTS hands weights to ``MixedOp.forward``. Layer names equal the official
checkpoints' (IMDN ``model/block.py``, DLSR ``RFDB``), so loading needs no remapping.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

LRELU_SLOPE = 0.05  # IMDN block.activation and DLSR/RFDN default
ESA_MIN_LQ = 15  # ESA: a stride-2 conv then a 7x7 stride-3 max-pool need at least 15 input pixels per side


def _call(slot: nn.Module, x: torch.Tensor, weights: Optional[torch.Tensor], index: int) -> torch.Tensor:
    return slot(x) if weights is None else slot(x, weights[index])


class CCALayer(nn.Module):
    """IMDN contrast-aware channel attention: ``z * sigmoid(conv(ReLU(conv(std_c(z) + mean_c(z)))))`` (brief §2.1)."""

    def __init__(self, channel: int, reduction: int = 16):
        super().__init__()
        hidden = max(channel // reduction, 1)  # deviation: IMDN has C // 16 (0 for C < 16); >= 1 lets tiny nets run
        self.conv_du = nn.Sequential(
            nn.Conv2d(channel, hidden, 1, padding=0, bias=True), nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channel, 1, padding=0, bias=True), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=(2, 3), keepdim=True)
        std = (x - mean).pow(2).mean(dim=(2, 3), keepdim=True).pow(0.5)  # population std, as IMDN stdv_channels
        return x * self.conv_du(std + mean)


class IMDModule(nn.Module):
    """IMDN's information multi-distillation block with its four 3x3 convs as slots (brief §2.1).

    Args:
        num_feat: block width (64 in IMDN).
        convs: the four slot modules c1 (C -> C), c2, c3 (C - C/4 -> C), c4 (C - C/4 -> C/4).
        distillation_rate: 0.25 in IMDN.
    """

    def __init__(self, num_feat: int, convs: Sequence[nn.Module], distillation_rate: float = 0.25):
        super().__init__()
        self.distilled = int(num_feat * distillation_rate)
        self.remaining = num_feat - self.distilled
        self.c1, self.c2, self.c3, self.c4 = convs
        self.act = nn.LeakyReLU(LRELU_SLOPE)
        self.c5 = nn.Conv2d(self.distilled * 4, num_feat, 1, bias=True)
        self.cca = CCALayer(self.distilled * 4)

    @staticmethod
    def slot_shapes(num_feat: int, distillation_rate: float = 0.25) -> list[tuple[int, int]]:
        """(c_in, c_out) of the four slots: (64,64), (48,64), (48,64), (48,16) for IMDN."""
        d = int(num_feat * distillation_rate)
        r = num_feat - d
        return [(num_feat, num_feat), (r, num_feat), (r, num_feat), (r, d)]

    def forward(self, x: torch.Tensor, weights: Optional[torch.Tensor] = None) -> torch.Tensor:
        split = (self.distilled, self.remaining)
        d1, r1 = torch.split(self.act(_call(self.c1, x, weights, 0)), split, dim=1)
        d2, r2 = torch.split(self.act(_call(self.c2, r1, weights, 1)), split, dim=1)
        d3, r3 = torch.split(self.act(_call(self.c3, r2, weights, 2)), split, dim=1)
        d4 = _call(self.c4, r3, weights, 3)  # no activation after c4
        return self.c5(self.cca(torch.cat([d1, d2, d3, d4], dim=1))) + x


class ESA(nn.Module):
    """RFDN's enhanced spatial attention, f = C/4 channels inside (brief §1.2; keys as in the DLSR checkpoint).
    Inputs need ``ESA_MIN_LQ`` pixels per side."""

    def __init__(self, num_feat: int):
        super().__init__()
        f = num_feat // 4
        self.conv1 = nn.Conv2d(num_feat, f, 1)
        self.conv_f = nn.Conv2d(f, f, 1)
        self.conv_max = nn.Conv2d(f, f, 3, padding=1)
        self.conv2 = nn.Conv2d(f, f, 3, stride=2, padding=0)
        self.conv3 = nn.Conv2d(f, f, 3, padding=1)
        self.conv3_ = nn.Conv2d(f, f, 3, padding=1)
        self.conv4 = nn.Conv2d(f, num_feat, 1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c1_ = self.conv1(x)
        c1 = self.conv2(c1_)
        v_max = F.max_pool2d(c1, kernel_size=7, stride=3)
        v_range = self.relu(self.conv_max(v_max))
        c3 = self.relu(self.conv3(v_range))
        c3 = self.conv3_(c3)
        c3 = F.interpolate(c3, size=(x.size(2), x.size(3)), mode="bilinear", align_corners=False)
        c4 = self.conv4(c3 + self.conv_f(c1_))
        return x * torch.sigmoid(c4)


class DLSRCell(nn.Module):
    """DLSR cell: an RFDB whose three shallow-residual convs are mixed residual blocks (MRBs), plus distillation
    (1x1 convs halving the channels) and ESA; no cell-level residual (brief §1.2, DLSR paper: MRB = op + residual).

    Args:
        num_feat: cell width C (48 in DLSR).
        mrbs: the three slot ops (C -> C), named ``c1_r, c2_r, c3_r`` as in the checkpoint.
    """

    def __init__(self, num_feat: int, mrbs: Sequence[nn.Module]):
        super().__init__()
        dc = num_feat // 2
        self.c1_d = nn.Conv2d(num_feat, dc, 1)
        self.c2_d = nn.Conv2d(num_feat, dc, 1)
        self.c3_d = nn.Conv2d(num_feat, dc, 1)
        self.c1_r, self.c2_r, self.c3_r = mrbs
        self.c4 = nn.Conv2d(num_feat, dc, 3, padding=1)
        self.c5 = nn.Conv2d(dc * 4, num_feat, 1)
        self.esa = ESA(num_feat)
        self.act = nn.LeakyReLU(LRELU_SLOPE)

    @staticmethod
    def slot_shapes(num_feat: int) -> list[tuple[int, int]]:
        """(c_in, c_out) of the three MRB slots: C -> C."""
        return [(num_feat, num_feat)] * 3

    def forward(self, x: torch.Tensor, weights: Optional[torch.Tensor] = None) -> torch.Tensor:
        d1 = self.act(self.c1_d(x))
        r1 = self.act(_call(self.c1_r, x, weights, 0) + x)
        d2 = self.act(self.c2_d(r1))
        r2 = self.act(_call(self.c2_r, r1, weights, 1) + r1)
        d3 = self.act(self.c3_d(r2))
        r3 = self.act(_call(self.c3_r, r2, weights, 2) + r2)
        r4 = self.act(self.c4(r3))
        return self.esa(self.c5(torch.cat([d1, d2, d3, r4], dim=1)))


def conv_lrelu(c_in: int, c_out: int) -> nn.Sequential:
    """1x1 fusion conv + LeakyReLU(0.05) (IMDN ``c``, DLSR ``cK``/``cout``; keys ``.0.*``)."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 1, bias=True), nn.LeakyReLU(LRELU_SLOPE))


def pixelshuffle_block(c_in: int, c_out: int, scale: int) -> nn.Sequential:
    """conv3x3 (c_in -> c_out * s^2) + PixelShuffle(s), one conv for every scale (IMDN/DLSR ``upsampler.0``)."""
    return nn.Sequential(nn.Conv2d(c_in, c_out * scale ** 2, 3, padding=1, bias=True), nn.PixelShuffle(scale))
