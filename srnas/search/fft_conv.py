"""Stride-1 'same' dense convolution through the 2-D real FFT (exact: the same sums, another order, fp32 rounding).

The fused mixed op (``srnas.search.fused``) folds every linear candidate into one conv whose kernel is as wide as the
widest (DLSR: 7x7 over 48 channels, ~40% of a supernet step on CPU). Direct convolution costs ``k^2`` multiply-adds
per (pixel, c_in, c_out); through the FFT the channel mixing is one complex product per frequency, ``4 L1 (L2/2 + 1)
/ (H W)`` real multiply-adds per (pixel, c_in, c_out) (7x7 at 32x32: 3.3 against 49), plus transforms that do not
grow with the channel product.

For ``y = conv2d(x, K, padding=p)`` (cross-correlation, ``k = 2p + 1``) on ``x`` zero-padded by ``p``, DFT sizes
``L1 >= H + k - 1``, ``L2 >= W + k - 1`` (rounded up to a 5-smooth length, 38 -> 40) let no circular wrap reach the
``H x W`` outputs, so:

* forward: ``Y = X * conj(K^)`` per frequency (``X = rfft2(pad(x))``, summed over ``c_in``), ``y = irfft2(Y)[:H, :W]``;
* input gradient: ``G * K^`` summed over ``c_out`` (``G = rfft2`` of the output gradient padded to ``L1 x L2``),
  cropped at ``p``;
* kernel gradient: the correlation of ``pad(x)`` with the output gradient at the ``k x k`` shifts, ``Re sum_{u,f}
  c_f X conj(G) e^{+i...}`` over the half spectrum (``c_f = 2`` but for the DC and Nyquist columns), from small DFT
  matrices.

The kernel's spectrum comes from ``k x k`` DFT matrices (cheaper than transforming zero-padded kernels). Backward keeps
what a direct conv keeps (``x`` and the kernel) and recomputes both spectra, so the memory is a direct conv's.
``benchmarks/search_step.py`` (``fast_direct``) and ``benchmarks/fft_step_ab.py`` measure it against the direct conv;
``tests/test_fft_conv.py`` checks values and gradients against ``F.conv2d`` in float64.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from srnas.utils.layout import memory_format_of


@lru_cache(maxsize=32)
def _dft(k: int, l1: int, l2: int, dtype: torch.dtype, device: str) -> tuple[Tensor, Tensor, Tensor]:
    """``E1[u, i] = exp(+2 pi i u i / l1)`` (l1 x k), ``E2[f, j]`` over the ``l2 // 2 + 1`` rfft frequencies, and
    ``E2`` times the half-spectrum weights ``c_f / (l1 l2)`` (c_f = 1 for the DC and Nyquist columns, else 2)."""
    i = torch.arange(k, dtype=torch.float64)[None]
    e1 = torch.exp(2j * math.pi * torch.arange(l1, dtype=torch.float64)[:, None] * i / l1)
    nf = l2 // 2 + 1
    e2 = torch.exp(2j * math.pi * torch.arange(nf, dtype=torch.float64)[:, None] * i / l2)
    c = torch.full((nf, 1), 2.0, dtype=torch.float64)
    c[0] = 1.0
    if l2 % 2 == 0:
        c[-1] = 1.0
    return tuple(t.to(dtype=dtype, device=device) for t in (e1, e2, e2 * c / (l1 * l2)))


def _mix(a: Tensor, b: Tensor) -> Tensor:
    """Per frequency: ``a (L1, F2, M, K) @ b (L1, F2, K, N)`` as one batched complex matmul."""
    l1, f2 = a.shape[:2]
    return torch.bmm(a.reshape(l1 * f2, *a.shape[2:]), b.reshape(l1 * f2, *b.shape[2:])).view(l1, f2, a.shape[2], -1)


def _spectrum(t: Tensor, l1: int, l2: int, top: int, left: int) -> Tensor:
    """``rfft2`` of ``t`` (N, C, H, W) zero-padded to ``l1 x l2`` with ``t`` at ``(top, left)``, as (L1, F2, C, N)
    (channels then batch per frequency: the layout every product below reads without a copy)."""
    h, w = t.shape[-2:]
    t = F.pad(t, (left, l2 - w - left, top, l1 - h - top)).contiguous()
    return torch.fft.rfft2(t).permute(2, 3, 1, 0).contiguous()


def _spatial(s: Tensor, l1: int, l2: int, top: int, left: int, h: int, w: int, like: Tensor) -> Tensor:
    """Inverse of :func:`_spectrum`: (L1, F2, C, N) spectrum -> the (N, C, h, w) window at ``(top, left)``, in the
    memory format of ``like`` (channels-last in, channels-last out)."""
    y = torch.fft.irfft2(s.permute(3, 2, 0, 1), s=(l1, l2))[..., top:top + h, left:left + w]
    return y.contiguous(memory_format=memory_format_of(like))


def _kernel_spectrum(weight: Tensor, e1: Tensor, e2: Tensor, transpose: bool) -> Tensor:
    """``conj(DFT(K))`` at the (L1, F2) frequencies from the k x k taps, two small matmuls: (L1, F2, O, C), or
    (L1, F2, C, O) with ``transpose``."""
    o, c, k, _ = weight.shape
    a = weight.to(e1.dtype) @ e2.T                                       # (O, C, k_i, F2)
    a = a.permute(2, 3, 1, 0) if transpose else a.permute(2, 3, 0, 1)    # (k_i, F2, ., .)
    return (e1 @ a.reshape(k, -1)).view(e1.shape[0], e2.shape[0], *a.shape[2:])


def _smooth(n: int) -> int:
    """The smallest 5-smooth integer >= n (a fast FFT length: 38 -> 40)."""
    while True:
        m = n
        for f in (2, 3, 5):
            while m % f == 0:
                m //= f
        if m == 1:
            return n
        n += 1


def _sizes(h: int, w: int, k: int) -> tuple[int, int]:
    """DFT sizes with no circular wrap into the h x w outputs: at least (h + k - 1, w + k - 1)."""
    return _smooth(int(h) + int(k) - 1), _smooth(int(w) + int(k) - 1)  # int(): traced sizes are tensors


def _complex(dtype: torch.dtype) -> torch.dtype:
    return torch.complex128 if dtype == torch.float64 else torch.complex64


class _FFTConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        k = weight.shape[-1]
        l1, l2 = _sizes(h, w, k)
        e1, e2, _ = _dft(k, l1, l2, _complex(x.dtype), str(x.device))
        xs = _spectrum(x, l1, l2, k // 2, k // 2)                         # (L1, F2, C, N)
        # keep what a direct conv keeps (x: shared with the other candidates' heads); both spectra are recomputed
        ctx.save_for_backward(x, weight)
        ctx.geometry = (h, w, k)
        return _spatial(_mix(_kernel_spectrum(weight, e1, e2, False), xs), l1, l2, 0, 0, h, w, x)

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, weight = ctx.saved_tensors
        h, w, k = ctx.geometry
        l1, l2 = _sizes(h, w, k)
        e1, e2, e2c = _dft(k, l1, l2, _complex(x.dtype), str(x.device))
        cg = _spectrum(grad, l1, l2, 0, 0).conj().resolve_conj()          # conj(G): (L1, F2, O, N)
        gx = gw = None
        if ctx.needs_input_grad[0]:  # sum_o DFT(K)[o, c] G[o] = conj(sum_o conj(DFT(K))[o, c] conj(G)[o])
            gx = _mix(_kernel_spectrum(weight, e1, e2, True), cg).conj().resolve_conj()
            gx = _spatial(gx, l1, l2, k // 2, k // 2, h, w, grad)
        if ctx.needs_input_grad[1]:  # sum_n X conj(G), evaluated at the k x k shifts (Re of the half spectrum)
            m = _mix(_spectrum(x, l1, l2, k // 2, k // 2), cg.transpose(-1, -2))  # (L1, F2, C, O)
            t = e2c.T @ m.flatten(2)                                      # (L1, k_j, C * O)
            t = (e1.T @ t.flatten(1)).real                                # (k_i, k_j * C * O)
            gw = t.view(k, k, *m.shape[2:]).permute(3, 2, 0, 1).contiguous()
        return gx, gw


def worthwhile(x: Tensor, weight: Tensor) -> bool:
    """Whether :func:`fft_conv2d` beats the direct conv (forward + backward) for this shape: on CPU, fp32/fp64, no
    autocast, kernel >= 5 and >= 32 channels in and out (2-core x86 CPU, batch 16, 32x32: 7x7 over 48 channels 1.7x,
    5x5 over 64 1.7x, 5x5 over 48 1.2x, 7x7 over 12 1.2x; 5x5 over 16 0.75x, 3x3 over 64 0.5x)."""
    return (x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64) and weight.dtype == x.dtype
            and not torch.is_autocast_enabled("cpu") and weight.shape[-1] >= 5 and min(weight.shape[:2]) >= 32)


def fft_conv2d(x: Tensor, weight: Tensor, bias: Optional[Tensor] = None) -> Tensor:
    """``F.conv2d(x, weight, bias, padding=k // 2)`` for a dense odd square kernel, computed through the FFT."""
    k = weight.shape[-1]
    if weight.shape[-2] != k or k % 2 == 0 or weight.shape[1] != x.shape[1]:
        raise ValueError(f"fft_conv2d: odd square dense kernel over {x.shape[1]} channels expected, "
                         f"got {tuple(weight.shape)}")
    y = _FFTConv.apply(x, weight)
    return y if bias is None else y + bias.view(1, -1, 1, 1)
