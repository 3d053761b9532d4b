"""Depthwise 'same' convolution with a fast CPU backward (exact: the same sums in another order).

ATen's CPU backward of a depthwise conv is far slower than its oneDNN forward when the conv is dilated (2-core
machine, 16x32x32x32 channels_last, 5x5 dilation 2: 23.6 ms forward + backward against 7.8 ms here;
``experiments/reports/perf_depthwise.md``).
For a stride-1 conv with 'same' zero padding both gradients have cheaper exact forms:

* input gradient = the forward conv of the output gradient with the spatially flipped kernel;
* weight gradient, dilated: ``dW[c, i, j] = sum_{n,y,x} g[n, c, y, x] * pad(x)[n, c, y + d i, x + d j]``, one
  multiply-reduce per kernel tap into one reused buffer (memory-bound); undilated convs keep ATen's.

``DepthwiseConv2d`` is an ``nn.Conv2d`` (same parameters and checkpoint keys) that uses this backward while training
and the plain conv otherwise (eval, no_grad, export, torch.compile). A 3x3 undilated conv keeps ATen's backward
everywhere: there it is as fast (``benchmarks/depthwise.py``: 3x3 0.97x, 5x5 / 7x7 1.2x, dilated 2.4-3.0x).
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _weight_grad(grad: Tensor, x: Tensor, weight: Tensor, dilation: int, padding: int) -> Tensor:
    if dilation == 1:
        return torch.ops.aten.convolution_backward(grad, x, weight, None, [1, 1], [padding] * 2, [1, 1], False, [0, 0],
                                                   x.shape[1], [False, True, False])[1]
    k, (h, w) = weight.shape[-1], grad.shape[-2:]
    xp = F.pad(x, (padding,) * 4)
    prod = torch.empty_like(grad)  # one buffer for every tap: no large allocation per tap
    gw = grad.new_empty(weight.shape[0], k * k)
    for i in range(k):
        for j in range(k):
            torch.mul(grad, xp[:, :, i * dilation:i * dilation + h, j * dilation:j * dilation + w], out=prod)
            torch.sum(prod, (0, 2, 3), out=gw[:, i * k + j])
    return gw.view_as(weight)


class _DepthwiseSame(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Optional[Tensor], dilation: int, padding: int) -> Tensor:
        dev = x.device.type
        dtype = torch.get_autocast_dtype(dev) if torch.is_autocast_enabled(dev) else x.dtype  # as autocast would
        ctx.dtypes = (x.dtype, weight.dtype, bias.dtype if bias is not None else None)
        x, weight = x.to(dtype), weight.to(dtype)
        bias = bias.to(dtype) if bias is not None else None
        ctx.save_for_backward(x, weight)
        ctx.dilation, ctx.padding = dilation, padding
        with torch.autocast(dev, enabled=False):
            return F.conv2d(x, weight, bias, padding=padding, dilation=dilation, groups=x.shape[1])

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, weight = ctx.saved_tensors
        d, p = ctx.dilation, ctx.padding
        grad = grad.to(x.dtype)
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            gx = F.conv2d(grad, weight.flip(2, 3), padding=p, dilation=d, groups=x.shape[1]).to(ctx.dtypes[0])
        if ctx.needs_input_grad[1]:
            gw = _weight_grad(grad, x, weight, d, p).to(ctx.dtypes[1])
        if ctx.dtypes[2] is not None and ctx.needs_input_grad[2]:
            gb = grad.sum((0, 2, 3)).to(ctx.dtypes[2])
        return gx, gw, gb, None, None


def depthwise_same(x: Tensor, weight: Tensor, bias: Optional[Tensor], dilation: int, padding: int) -> Tensor:
    """``F.conv2d(x, weight, bias, padding=padding, dilation=dilation, groups=C)`` for a stride-1 'same' depthwise
    conv (``padding == dilation * (k // 2)``, odd square ``k``), with the fast backward above."""
    return _DepthwiseSame.apply(x, weight, bias, dilation, padding)


class DepthwiseConv2d(nn.Conv2d):
    """``nn.Conv2d(c, c, k, padding=dilation * (k // 2), dilation=dilation, groups=c, bias=bias)`` whose training
    backward is ``depthwise_same``'s (its parameters, state-dict keys and eval forward are nn.Conv2d's)."""

    def __init__(self, channels: int, kernel_size: int, dilation: int = 1, bias: bool = True):
        if kernel_size % 2 == 0:
            raise ValueError(f"DepthwiseConv2d: kernel_size must be odd, got {kernel_size}")
        super().__init__(channels, channels, kernel_size, padding=dilation * (kernel_size // 2), dilation=dilation,
                         groups=channels, bias=bias)
        self.fast_backward = dilation > 1 or kernel_size > 3

    def forward(self, x: Tensor) -> Tensor:
        if self.fast_backward and self.training and torch.is_grad_enabled() and not torch.compiler.is_compiling():
            return depthwise_same(x, self.weight, self.bias, self.dilation[0], self.padding[0])
        return self._conv_forward(x, self.weight, self.bias)


CONVS = (nn.Conv2d, DepthwiseConv2d)  # the conv classes whose forward is exactly F.conv2d (for graph rewriters)


def plain_depthwise(model: nn.Module) -> nn.Module:
    """Turn every ``DepthwiseConv2d`` of ``model`` into a plain ``nn.Conv2d`` in place (ATen's backward; benchmarks)."""
    for m in model.modules():
        if type(m) is DepthwiseConv2d:
            m.__class__ = nn.Conv2d
    return model
