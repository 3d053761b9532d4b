"""Parameters and MACs (multiply-accumulates, the SR papers' "Multi-Adds") of a network, counted with fvcore.

Convention (brief §1.7, method notes §5.7): MACs of one image whose SR **output** is 1280x720, i.e. an LR input of
round(720/s) x round(1280/s) (x3: 240x427), as the IMDN and DLSR papers count. Pass ``input_hw`` for another input
(e.g. the SA-DARTS paper's 1280x720 *input*: IMDN x4 654.17 G).

What is counted: fvcore's convolution and matmul handles only (``aten::_convolution``, ``mm``, ``matmul``, ``addmm``,
``bmm``, ``linear``, ``einsum``), one MAC per multiply-add, **bias not counted** (fvcore's conv rule is
``N * H_out * W_out * C_out * C_in/groups * k_h * k_w``). fvcore by default also counts ``batch_norm`` (folds into the
conv at inference), ``upsample_bilinear2d`` (4 per output element: ESA's interpolation), ``upsample_nearest2d``,
``adaptive_avg_pool2d``, ``grid_sampler`` and the norms; srnas keeps only the conv/matmul handles, so no elementwise
op is counted. Ops fvcore has no handle for (add, mul, sigmoid, leaky_relu, mean, pow, max_pool2d, pixel_shuffle)
count 0. With fvcore's defaults the released DLSR x2 would count 67.37 G instead of 67.31 G (ESA's interpolation).
deviation: the SA-DARTS paper's IMDN figure (654.53 G) also counts CCA's attention multiply; srnas does not.
"""
from __future__ import annotations

import functools
import warnings
from typing import Optional

import torch
from torch import nn

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)  # fvcore's import calls torch.jit.script (deprecated in torch 2.x)
    from fvcore.nn.jit_analysis import JitModelAnalysis
    from fvcore.nn.jit_handles import (addmm_flop_jit, bmm_flop_jit, conv_flop_jit, einsum_flop_jit, linear_flop_jit,
                                       matmul_flop_jit)

from srnas.archs.ops import build_op

OUTPUT_HW = (720, 1280)  # the community's 1280x720 SR output
# fvcore's FlopCountAnalysis defaults less its norm / resampling / pooling handles
COUNTED_OPS = {"aten::_convolution": conv_flop_jit, "aten::addmm": addmm_flop_jit, "aten::bmm": bmm_flop_jit,
               "aten::einsum": einsum_flop_jit, "aten::matmul": matmul_flop_jit, "aten::mm": matmul_flop_jit,
               "aten::linear": linear_flop_jit}


def lr_input_hw(scale: int, output_hw: tuple[int, int] = OUTPUT_HW) -> tuple[int, int]:
    """LR size whose x``scale`` output is ``output_hw``, rounded as the IMDN/DLSR papers do (x3: (240, 427))."""
    return round(output_hw[0] / scale), round(output_hw[1] / scale)


def count_macs(model: nn.Module, x: torch.Tensor) -> int:
    """MACs of ``model(x)`` counted by fvcore (convolutions and matmuls only, no bias; see the module docstring)."""
    fca = JitModelAnalysis(model, x).set_op_handle(**COUNTED_OPS)  # fvcore's FlopCountAnalysis, fewer handles
    fca.unsupported_ops_warnings(False)
    fca.uncalled_modules_warnings(False)
    fca.tracer_warnings("none")
    return int(fca.total())


def profile(model: nn.Module, scale: int, input_hw: Optional[tuple[int, int]] = None,
            output_hw: tuple[int, int] = OUTPUT_HW, num_in_ch: int = 3) -> dict:
    """Parameter count and MACs of one forward pass.

    Args:
        model: the network (run once in eval mode under ``no_grad`` on its own device; its mode is restored).
        scale: SR factor, used to derive the LR input from ``output_hw``.
        input_hw: LR input (H, W); overrides ``output_hw``.
        output_hw: SR output (H, W) the MACs refer to, (720, 1280) by default.
        num_in_ch: input channels.

    Returns:
        ``{"params": int, "macs": int, "input_hw": (h, w)}``. Costs the forward pass itself (IMDN x2 at 360x640 takes
        ~15 s on 2 CPU cores).
    """
    hw = tuple(input_hw) if input_hw is not None else lr_input_hw(scale, output_hw)
    params = sum(p.numel() for p in model.parameters())
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            macs = count_macs(model, torch.zeros(1, num_in_ch, *hw, device=device))
    finally:
        model.train(was_training)
    return {"params": params, "macs": macs, "input_hw": hw}


@functools.lru_cache(maxsize=None)
def op_macs_per_pixel(op_name: str, c_in: int, c_out: int) -> int:
    """MACs per LR pixel of one candidate op (``ops.OPS``) at ``c_in -> c_out`` channels, no bias, BN free.

    The costs ``c_i`` of the FLOPs penalty (SA-DARTS Eq. 18, method notes §4): e.g. DLSR ``conv_3x3`` at C=48 gives
    20736, IMDN ``conv5`` 64->64 gives 102400. All candidates keep the spatial size, so the count is exact.
    """
    op = build_op(op_name, c_in, c_out).eval()
    h = w = 8
    with torch.no_grad():
        macs = count_macs(op, torch.zeros(1, c_in, h, w))
    return macs // (h * w)
