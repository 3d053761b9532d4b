"""Exact fast evaluation of a mixed op (``MixedOp(impl="fast")``): same math as the candidate loop, less work.

``sum_o w_o op_o(x)`` (SA-DARTS Eq. 1) is regrouped by what each candidate is, read from its layers:

* **linear** candidates (a stride-1 "same" conv, optionally followed by pointwise 1x1 convs and eval-mode BNs:
  DLSR ``conv_kxk``, IMDN ``conv3/conv5`` and BN-free ``sep/dilsep``, ``skip_connect``) are one convolution each, with
  a composed kernel ``K_o`` and bias ``b_o``. Those no wider than the widest dense candidate fold into ONE conv:
  ``sum_o w_o conv(x, K_o) + w_o b_o = conv(x, sum_o w_o pad(K_o)) + sum_o w_o b_o`` (exact; zero padding keeps the
  borders exact because only the first layer of a folded chain is spatial). Autograd still reaches ``w`` and every
  candidate's own weights through the kernel sum.
* **tail** candidates end in pointwise linear layers after a nonlinearity or a wide depthwise conv (DLSR
  ``sep_conv``/``dil_conv``, IMDN ``dilsep5``): their pointwise tails fold into one 1x1 matrix each, ``w_o T_o``,
  applied to the head's output ``z_o`` (one 1x1 conv per candidate instead of its chain). A ReLU that opens several
  candidates on the same input (DLSR sep/dil) is computed once.
* **bn** candidates end in a training-mode BatchNorm (IMDN ``*_bn``, not linear: batch statistics): the weight is
  folded into the BN affine, ``w * BN(y) = BN_{w gamma, w beta}(y)``; running statistics update exactly as in the loop.
* ``none`` contributes nothing (its gradient is 0 in the loop too); anything unrecognised runs as in the loop.

The folded conv of wide kernels runs through the 2-D FFT on CPU (``srnas.search.fft_conv``: DLSR's 7x7 over 48
channels ~1.7x forward + backward). Depthwise convs are ``archs.depthwise.DepthwiseConv2d`` (exact, faster CPU
backward). ``recompute=True`` re-runs the cheap heads in backward instead of keeping their activations (never a BN:
its running statistics must update once). Measured technique by technique in ``benchmarks/search_step.py``.

Floating-point summation order differs from the loop, so results agree to rounding (tests: ``tests/test_fused.py``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.utils.checkpoint import checkpoint

from srnas.archs.depthwise import CONVS
from srnas.archs.ops import DartsOp, Zero
from srnas.search import fft_conv


def _kind(m: nn.Module) -> type:
    """The module's class, seen through a ``torch.nn.utils.parametrize`` wrapper (``MixedOp.fix_scale``)."""
    return type(m).__bases__[0] if parametrize.is_parametrized(m) else type(m)


def _layers(op: nn.Module) -> Optional[list[nn.Module]]:
    """The layer chain of a candidate, or None when its forward is not a plain chain we know."""
    if isinstance(op, DartsOp):
        return list(op.op)
    if _kind(op) is nn.Sequential:
        return list(op)
    if isinstance(op, (nn.Conv2d, nn.Identity, Zero)):
        return [op]
    return None


def _is_same_conv(m: nn.Module) -> bool:
    """Stride-1 conv with 'same' zero padding, odd square kernel, dense or depthwise."""
    if _kind(m) not in CONVS or m.padding_mode != "zeros" or m.stride != (1, 1):
        return False
    k, d = m.kernel_size, m.dilation
    if k[0] != k[1] or d[0] != d[1] or k[0] % 2 == 0 or m.padding != (d[0] * (k[0] // 2),) * 2:
        return False
    return m.groups == 1 or m.groups == m.in_channels == m.out_channels


def _is_depthwise(m: nn.Module) -> bool:
    return _kind(m) in CONVS and m.groups > 1


def _extent(m: nn.Module) -> int:
    return m.dilation[0] * (m.kernel_size[0] - 1) + 1 if _kind(m) in CONVS else 1


def _is_pointwise_linear(m: nn.Module) -> bool:
    """1x1 dense conv, identity, or a BatchNorm that normalises with its running statistics (eval mode)."""
    if _kind(m) is nn.Identity:
        return True
    if _kind(m) in CONVS:
        return _is_same_conv(m) and m.kernel_size == (1, 1) and m.groups == 1
    if _kind(m) is nn.BatchNorm2d:
        return not m.training and m.running_mean is not None
    return False


def _is_training_bn(m: nn.Module) -> bool:
    return _kind(m) is nn.BatchNorm2d and m.training and m.track_running_stats and m.running_mean is not None


@dataclass
class Plan:
    """How one mixed op's candidates are evaluated (built per train/eval mode; holds module references only)."""

    extent: int = 0                                                  # kernel size of the folded conv
    dense: list[int] = field(default_factory=list)                   # linear candidates folded into one conv
    tail: list[int] = field(default_factory=list)                    # head(x) then a shared 1x1
    bn: list[int] = field(default_factory=list)                      # head(x) then BN with w folded into its affine
    loop: list[int] = field(default_factory=list)                    # w * op(x)
    heads: dict[int, list[nn.Module]] = field(default_factory=dict)  # tail/bn: layers before the folded part
    tails: dict[int, list[nn.Module]] = field(default_factory=dict)  # the layers that fold (bn: the BatchNorm)


def make_plan(ops: Sequence[nn.Module]) -> Plan:
    """Classify candidates ``ops`` (in their current train/eval mode) into dense, tail, bn and loop groups."""
    plan = Plan()
    linear: dict[int, tuple[int, bool]] = {}  # index -> (extent, first layer depthwise)
    for i, op in enumerate(ops):
        layers = _layers(op)
        if layers is None:
            plan.loop.append(i)
            continue
        if any(_kind(m) is Zero for m in layers):
            continue  # `none`: w * 0
        n_tail = 0
        while n_tail < len(layers) and _is_pointwise_linear(layers[-1 - n_tail]):
            n_tail += 1
        head = layers[: len(layers) - n_tail]
        if not head or (len(head) == 1 and _is_same_conv(head[0])):  # one spatial layer, then pointwise: linear
            plan.tails[i] = layers
            linear[i] = (_extent(head[0]) if head else 1, bool(head) and _is_depthwise(head[0]))
        elif any(_kind(m) is not nn.Identity for m in layers[len(head):]):
            plan.tail.append(i)
            plan.heads[i], plan.tails[i] = head, layers[len(head):]
        elif _is_training_bn(layers[-1]):
            plan.bn.append(i)
            plan.heads[i], plan.tails[i] = layers[:-1], layers[-1:]
        else:
            plan.loop.append(i)
    plan.extent = max((e for e, dw in linear.values() if not dw), default=0)
    for i, (e, dw) in linear.items():
        if e <= plan.extent:
            plan.dense.append(i)
        elif len(plan.tails[i]) > 1:  # a depthwise conv wider than every dense candidate: keep it, fold its tail
            plan.tail.append(i)
            plan.heads[i], plan.tails[i] = plan.tails[i][:1], plan.tails[i][1:]
        else:
            plan.loop.append(i)
    plan.tail.sort()
    plan.loop.sort()
    return plan


def _dilate(k: Tensor, d: int) -> Tensor:
    """Kernel ``(..., k, k)`` of a dilation-``d`` conv as the equivalent dense ``(..., d(k-1)+1, d(k-1)+1)`` kernel."""
    if d == 1:
        return k
    n = d * (k.shape[-1] - 1) + 1
    out = k.new_zeros(*k.shape[:-2], n, n)
    out[..., ::d, ::d] = k
    return out


def _pointwise(layers: Sequence[nn.Module], n: int, ref: Tensor) -> tuple[Tensor, Optional[Tensor]]:
    """Pointwise linear layers on ``n`` channels as ``y = A @ z + c``: ``(A (C_out, n), c (C_out,) or None)``."""
    a = torch.eye(n, dtype=ref.dtype, device=ref.device)
    c: Optional[Tensor] = None
    for m in layers:
        if _kind(m) is nn.Identity:
            continue
        if _kind(m) in CONVS:
            w = m.weight[:, :, 0, 0]
            a, c = w @ a, (torch.mv(w, c) if c is not None else None)
            if m.bias is not None:
                c = m.bias if c is None else c + m.bias
        else:  # eval BatchNorm2d: y = s * (z - mean) + beta
            s = torch.rsqrt(m.running_var + m.eps)
            s = s * m.weight if m.weight is not None else s
            a = s[:, None] * a
            c = s * ((c if c is not None else 0) - m.running_mean)
            c = c + m.bias if m.bias is not None else c
    return a, c


def _linear_kernel(layers: Sequence[nn.Module], n: int, extent: int, ref: Tensor) -> tuple[Tensor, Optional[Tensor]]:
    """Kernel ``(C_out, n, extent, extent)`` and bias ``(C_out,)`` (or None) of a linear chain on ``n`` channels whose
    only spatial layer is the first."""
    first = layers[0]
    if _is_pointwise_linear(first):
        a, c = _pointwise(layers, n, ref)
        k = a[:, :, None, None]
    else:
        d = _dilate(first.weight, first.dilation[0])
        a, c = _pointwise(layers[1:], first.out_channels, ref)
        if first.bias is not None:
            c = torch.mv(a, first.bias) if c is None else torch.mv(a, first.bias) + c
        if _is_depthwise(first):  # (C, 1, e, e): K[o, i] = A[o, i] * D[i]
            k = a[:, :, None, None] * d[:, 0][None]
        else:
            k = torch.einsum("om,mihw->oihw", a, d) if len(layers) > 1 else d
    p = (extent - k.shape[-1]) // 2
    return (F.pad(k, (p, p, p, p)) if p else k), c


def _run(layers: Sequence[nn.Module], x: Tensor) -> Tensor:
    for m in layers:
        x = m(x)
    return x


def _batch_norm(bn: nn.BatchNorm2d, y: Tensor, w: Tensor) -> Tensor:
    """``w * bn(y)`` as one training-mode batch norm with affine ``(w gamma, w beta)`` (``_BatchNorm.forward``)."""
    bn.num_batches_tracked.add_(1)
    momentum = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
    gamma = w * bn.weight if bn.weight is not None else w.expand(bn.num_features)
    beta = w * bn.bias if bn.bias is not None else None
    return F.batch_norm(y, bn.running_mean, bn.running_var, gamma, beta, True, momentum, bn.eps)


def _cheap(layers: Sequence[nn.Module]) -> bool:
    """No dense spatial conv: recomputing these layers costs little next to the mixed op."""
    return not any(_kind(m) in CONVS and m.groups == 1 and m.kernel_size != (1, 1) for m in layers)


def _width(tail: Sequence[nn.Module]) -> int:
    """Input channels of a pointwise tail (it holds a conv or a BN)."""
    m = next(m for m in tail if _kind(m) is not nn.Identity)
    return m.in_channels if _kind(m) in CONVS else m.num_features


def _tail_out(plan: Plan, x: Tensor, mats: Sequence[Tensor], bias: Optional[Tensor]) -> Tensor:
    """``sum_o w_o T_o head_o(x)``: each head's output through its own 1x1 conv ``mats[o] = w_o T_o``, summed (no
    ``cat`` of the heads: in channels-last a channel concat copies short rows; 48 channels x 5 heads, forward +
    backward 26 ms against 43 ms for one conv over the concat)."""
    relu = None
    out = None
    for i, a in zip(plan.tail, mats):
        head = plan.heads[i]
        if _kind(head[0]) is nn.ReLU:  # one ReLU(x) shared by the candidates that open with it
            relu = F.relu(x) if relu is None else relu
            z = _run(head[1:], relu)
        else:
            z = _run(head, x)
        y = F.conv2d(z, a[:, :, None, None], bias if out is None else None)
        out = y if out is None else out + y
    return out


def fused_forward(plan: Plan, ops: Sequence[nn.Module], x: Tensor, weights: Tensor, c_out: int,
                  recompute: bool = False, fft: bool = True) -> Tensor:
    """``sum_o weights[o] * ops[o](x)`` evaluated by ``plan`` (see the module docstring).

    Args:
        plan: from :func:`make_plan` for the ops' current mode.
        ops: the candidate modules.
        x: ``(N, C_in, H, W)``.
        weights: ``(N_o,)`` mixing weights.
        c_out: output channels.
        recompute: recompute the cheap parts (tail candidates' heads, depthwise/pointwise heads of BN candidates) in
            backward instead of keeping their activations: less memory, a little more compute. Never around a BN,
            whose running statistics must update once.
        fft: compute the folded conv through the FFT where that is faster (``srnas.search.fft_conv.worthwhile``).

    Returns:
        ``(N, c_out, H, W)``.
    """
    out: Optional[Tensor] = None
    bias: Optional[Tensor] = None
    no_autocast = torch.autocast(x.device.type, enabled=False)  # compose kernels in the parameters' precision

    def k_ref(i: int) -> Tensor:  # dtype/device of candidate i's parameters
        return next(ops[i].parameters(), x)

    if plan.dense:
        kernel = None
        for i in plan.dense:
            with no_autocast:
                k, b = _linear_kernel(plan.tails[i], x.shape[1], plan.extent, k_ref(i))
            kernel = weights[i] * k if kernel is None else kernel + weights[i] * k
            if b is not None:
                bias = weights[i] * b if bias is None else bias + weights[i] * b
    if plan.tail:
        mats = []
        for i in plan.tail:
            with no_autocast:
                a, c = _pointwise(plan.tails[i], _width(plan.tails[i]), k_ref(i))
            mats.append(weights[i] * a)
            if c is not None:
                bias = weights[i] * c if bias is None else bias + weights[i] * c
        tail_b = None if plan.dense else bias
        if recompute and torch.is_grad_enabled():  # keep x only; the heads (cheap) run again in backward
            out = checkpoint(_tail_out, plan, x, mats, tail_b, use_reentrant=False)
        else:
            out = _tail_out(plan, x, mats, tail_b)
    if plan.dense:
        if fft and fft_conv.worthwhile(x, kernel):  # the widest folded kernels (DLSR 7x7): through the FFT
            y = fft_conv.fft_conv2d(x, kernel, bias)
        else:
            y = F.conv2d(x, kernel, bias, padding=plan.extent // 2)
        out = y if out is None else y + out
    for i in plan.bn:
        head = plan.heads[i]
        if recompute and torch.is_grad_enabled() and _cheap(head):  # sep*_bn: keep the BN input, not the dw output
            z = checkpoint(_run, head, x, use_reentrant=False)
        else:
            z = _run(head, x)
        y = _batch_norm(plan.tails[i][0], z, weights[i])
        out = y if out is None else out + y
    for i in plan.loop:
        y = weights[i] * ops[i](x)
        out = y if out is None else out + y
    if out is None:  # every candidate is `none`
        out = x.new_zeros(x.shape[0], c_out, x.shape[2], x.shape[3]) * weights.sum()
    return out

