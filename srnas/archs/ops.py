"""Candidate operations of the two search spaces: one dict entry per op (DARTS' ``OPS``).

Every builder has the signature ``(c_in, c_out) -> nn.Module``. A space fixes the alpha column order with its own
``PRIMITIVES`` tuple; a derived network and the supernet build their ops from this one table, so a genotype needs no
supernet to load.

Two families with their references' names:

* DLSR mixed-residual-block ops (brief §1.1, ``models/operations_hh.py``): C -> C, no bias, no BN. Modules keep
  DLSR's ``.op`` Sequential so the released checkpoint loads as ``cK_r.op.<i>.weight``. ``skip_connect`` and ``none``
  are not in DLSR's list; they are extra candidates for the skip-bias experiments (SA-DARTS Fig. 4).
* IMDN-space ops (SA-DARTS §4.4, method notes §5.2): {conv, sep, dilated sep} x {3, 5} x {no BN, BN}, with bias,
  single-stage separable convs, no activation inside. ``conv3`` is a bare ``nn.Conv2d`` so that official IMDN weights
  load under ``IMDB<i>.c<j>.weight``.
* ``noise``: a control candidate of both spaces that can only hurt (the search's positive controls).

Depthwise convs are ``DepthwiseConv2d``: an ``nn.Conv2d`` (same keys and forward) with a faster exact CPU backward.
"""
from __future__ import annotations

from typing import Callable, Dict

import torch
from torch import nn

from srnas.archs.depthwise import DepthwiseConv2d

OpBuilder = Callable[[int, int], nn.Module]


class DartsOp(nn.Module):
    """A DLSR/DARTS op: its layers in ``self.op`` (checkpoint keys ``op.<i>.*``)."""

    def __init__(self, *layers: nn.Module):
        super().__init__()
        self.op = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class Zero(nn.Module):
    """The ``none`` op: a zero tensor of the input's shape (DARTS ``Zero`` with stride 1)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


def _same(c_in: int, c_out: int, name: str) -> int:
    if c_in != c_out:
        raise ValueError(f"op {name} maps C -> C, got {c_in} -> {c_out}")
    return c_in


def _dlsr_conv(k: int) -> OpBuilder:
    # DLSR conv_kxk: Conv(C, C, k, pad k//2, bias=False), no activation (brief §1.1).
    def build(c_in: int, c_out: int) -> nn.Module:
        c = _same(c_in, c_out, f"conv_{k}x{k}")
        return DartsOp(nn.Conv2d(c, c, k, padding=k // 2, bias=False))

    return build


def _dlsr_sep(k: int) -> OpBuilder:
    # DARTS SepConv: (ReLU, dw k, pw 1x1) twice, no bias, no BN in DLSR (brief §1.1).
    def build(c_in: int, c_out: int) -> nn.Module:
        c = _same(c_in, c_out, f"sep_conv_{k}x{k}")
        return DartsOp(
            nn.ReLU(inplace=False), DepthwiseConv2d(c, k, bias=False), nn.Conv2d(c, c, 1, bias=False),
            nn.ReLU(inplace=False), DepthwiseConv2d(c, k, bias=False), nn.Conv2d(c, c, 1, bias=False))

    return build


def _dlsr_dil(k: int) -> OpBuilder:
    # DARTS DilConv: ReLU, dw k dilation 2, pw 1x1 (brief §1.1).
    def build(c_in: int, c_out: int) -> nn.Module:
        c = _same(c_in, c_out, f"dil_conv_{k}x{k}")
        return DartsOp(nn.ReLU(inplace=False),
                       DepthwiseConv2d(c, k, dilation=2, bias=False),
                       nn.Conv2d(c, c, 1, bias=False))

    return build


def _imdn_conv(k: int, bn: bool) -> OpBuilder:
    # method notes §5.2: conv_k = Conv(C_in, C_out, k, pad k//2, bias); _bn adds BatchNorm2d(C_out).
    def build(c_in: int, c_out: int) -> nn.Module:
        conv = nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=True)
        return nn.Sequential(conv, nn.BatchNorm2d(c_out)) if bn else conv

    return build


def _imdn_sep(k: int, dilation: int, bn: bool) -> OpBuilder:
    # method notes §5.2: depthwise Conv(C_in, C_in, k, groups=C_in, bias) then pointwise Conv(C_in, C_out, 1, bias);
    # single stage (not DARTS' double stage); the dilated variant uses dilation 2, pad 2*(k//2).
    def build(c_in: int, c_out: int) -> nn.Module:
        layers = [DepthwiseConv2d(c_in, k, dilation=dilation, bias=True),
                  nn.Conv2d(c_in, c_out, 1, bias=True)]
        if bn:
            layers.append(nn.BatchNorm2d(c_out))
        return nn.Sequential(*layers)

    return build


class Noise(nn.Module):
    """The ``noise`` control candidate: fresh N(0, 1) noise of shape (N, c_out, H, W), independent of the input.

    It carries no information about the input, so every bit of mixing weight on it only corrupts the features: a
    candidate that by construction can only hurt, for the positive controls of the search (a search that works gives
    it the lowest weight). Drawn from the global RNG (saved in search checkpoints), in train and eval mode alike.
    """

    def __init__(self, c_out: int):
        super().__init__()
        self.c_out = c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        return torch.randn(n, self.c_out, h, w, device=x.device, dtype=x.dtype)


def _noise(c_in: int, c_out: int) -> nn.Module:
    return Noise(c_out)


def _skip(c_in: int, c_out: int) -> nn.Module:
    _same(c_in, c_out, "skip_connect")
    return nn.Identity()


def _none(c_in: int, c_out: int) -> nn.Module:
    _same(c_in, c_out, "none")
    return Zero()


OPS: Dict[str, OpBuilder] = {
    # DLSR space (DLSR PRIMITIVES order)
    "conv_1x1": _dlsr_conv(1),
    "conv_3x3": _dlsr_conv(3),
    "conv_5x5": _dlsr_conv(5),
    "conv_7x7": _dlsr_conv(7),
    "sep_conv_3x3": _dlsr_sep(3),
    "sep_conv_5x5": _dlsr_sep(5),
    "sep_conv_7x7": _dlsr_sep(7),
    "dil_conv_3x3": _dlsr_dil(3),
    "dil_conv_5x5": _dlsr_dil(5),
    # extra candidates for skip-bias experiments (SA-DARTS Fig. 4 setup; not in DLSR's list)
    "skip_connect": _skip,
    "none": _none,
    # IMDN space (method notes §5.2 column order: conv3, conv5, sep3, sep5, dilsep3, dilsep5, then the _bn six)
    "conv3": _imdn_conv(3, False),
    "conv5": _imdn_conv(5, False),
    "sep3": _imdn_sep(3, 1, False),
    "sep5": _imdn_sep(5, 1, False),
    "dilsep3": _imdn_sep(3, 2, False),
    "dilsep5": _imdn_sep(5, 2, False),
    "conv3_bn": _imdn_conv(3, True),
    "conv5_bn": _imdn_conv(5, True),
    "sep3_bn": _imdn_sep(3, 1, True),
    "sep5_bn": _imdn_sep(5, 1, True),
    "dilsep3_bn": _imdn_sep(3, 2, True),
    "dilsep5_bn": _imdn_sep(5, 2, True),
    # positive-control candidate of both spaces (a candidate that can only hurt)
    "noise": _noise,
}

DLSR_PRIMITIVES = ("conv_1x1", "conv_3x3", "conv_5x5", "conv_7x7", "sep_conv_3x3", "sep_conv_5x5", "sep_conv_7x7",
                   "dil_conv_3x3", "dil_conv_5x5")
IMDN_PRIMITIVES = ("conv3", "conv5", "sep3", "sep5", "dilsep3", "dilsep5",
                   "conv3_bn", "conv5_bn", "sep3_bn", "sep5_bn", "dilsep3_bn", "dilsep5_bn")
EXTRA_PRIMITIVES = ("skip_connect", "none")
CONTROL_PRIMITIVES = ("noise",)


def build_op(name: str, c_in: int, c_out: int) -> nn.Module:
    """Build candidate ``name`` for ``c_in -> c_out`` channels (ValueError for an unknown name)."""
    if name not in OPS:
        raise ValueError(f"unknown op {name!r}; known ops: {', '.join(OPS)}")
    return OPS[name](c_in, c_out)
