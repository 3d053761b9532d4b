"""Exact tiled inference for networks with whole-image statistics (IMDN's CCA, DLSR's ESA, any genotype of either
space): the output equals the whole-image output up to float rounding, and memory is bounded by the tile.

Why plain tiling is not exact: CCA multiplies every pixel by a function of each channel's mean and std over the *whole*
feature map; ESA max-pools (7x7, stride 3, on a stride-2 map) and upsamples the pooled map bilinearly to the whole
map's size. A tile sees other statistics, other pooling cells and another interpolation grid.

How it is made exact: given those statistics, each attention layer is a pointwise function of its input, and the rest
of the network is convolutions, so the network is then a fixed convolutional map with a receptive-field radius ``R``
(summed over the convolutions it runs, an upper bound). A block's statistics depend only on the blocks before it, so:

* pass k (one per attention layer, in execution order): run the network tile by tile up to attention layer k, with
  the statistics of layers 1..k-1 already known, each window with the radius of the network up to layer k as
  context; layer k adds the contribution of the tile's core and the pass stops there. CCA keeps per-channel sums of
  ``x`` and ``x^2`` (float64); ESA keeps its max-pooled map (cells whose 15x15 footprint starts in the core;
  windows reach 14 pixels further right/down for them): C/4 channels at 1/6 of the size per side, 1/144 of one
  feature map, the only thing kept that grows with the image;
* the final pass runs the whole network on windows of ``tile + 2 R`` with every layer applying the stored
  statistics (ESA: its three 3x3 convs run once on the stored low-resolution map, and each window reads its part of
  the bilinear upsampling, computed with PyTorch's ``align_corners=False`` formula at the full image's size).

Nothing full-size is stored: features are recomputed in every pass instead. The cost is the extra passes (pass k
runs the network up to layer k) and the context around each tile; ``benchmarks/tiling.py`` measures both.
Only PyTorch networks can be run this way (the layers are swapped for their streaming versions); an exported ONNX or
TorchScript graph computes its statistics inside one graph and is tiled approximately (``srnas.infer``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn

from srnas.archs.blocks import ESA, CCALayer
from srnas.errors import SrnasError

ESA_FOOTPRINT = 15  # LR rows/cols one ESA pooled cell reads: conv 3x3 stride 2, then max-pool 7 stride 3
ESA_STRIDE = 6  # LR pixels between pooled cells
PROBE = 32  # side of the probe image that records the network's layers


class _Stop(Exception):
    """Raised by the layer being collected: the rest of the network is not needed in this pass."""


@dataclass
class _Attention:
    """One attention layer: its module, the receptive radius of its input, and its image-wide statistics."""

    module: nn.Module
    radius: int
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Window:
    """The window being run, in LR pixels of the whole image, and the core whose statistics it contributes."""

    box: tuple[int, int, int, int]  # y0, y1, x0, x1 (end exclusive)
    core: tuple[int, int, int, int]
    image_hw: tuple[int, int]


def _conv_radius(conv: nn.Conv2d) -> int:
    return max(d * (k - 1) // 2 for k, d in zip(conv.kernel_size, conv.dilation))


@torch.no_grad()
def trace_attention(model: nn.Module, device: torch.device | str = "cpu") -> tuple[list[_Attention], int]:
    """The attention layers of ``model`` in execution order, each with the receptive radius (LR pixels) of its input,
    and the radius of the whole network with every attention layer pointwise.

    Raises:
        SrnasError: the network has a layer this method cannot stream (a strided conv or a resolution change outside
            the attention layers, an attention layer run twice).
    """
    layers: list[_Attention] = []
    state = {"radius": 0, "inside": 0, "bad": None}
    handles = []

    def conv_pre(m, inputs):
        if state["inside"]:
            return
        x = inputs[0]
        if any(s != 1 for s in m.stride) or tuple(x.shape[-2:]) != (PROBE, PROBE):
            state["bad"] = f"{type(m).__name__} with stride {m.stride} on a {tuple(x.shape[-2:])} map"
        state["radius"] += _conv_radius(m)

    def att_pre(m, inputs):
        if any(a.module is m for a in layers):
            state["bad"] = f"{type(m).__name__} called twice"
        if tuple(inputs[0].shape[-2:]) != (PROBE, PROBE):
            state["bad"] = f"{type(m).__name__} on a {tuple(inputs[0].shape[-2:])} map"
        layers.append(_Attention(m, state["radius"]))
        state["inside"] += 1

    def att_post(m, inputs, output):
        state["inside"] -= 1

    for m in model.modules():
        if isinstance(m, (CCALayer, ESA)):
            handles += [m.register_forward_pre_hook(att_pre), m.register_forward_hook(att_post)]
        elif isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_pre_hook(conv_pre))
    try:
        model(torch.full((1, 3, PROBE, PROBE), 0.5, device=device))
    finally:
        for h in handles:
            h.remove()
    if state["bad"]:
        raise SrnasError(f"exact tiling: unsupported layer ({state['bad']}); use the approximate tiling")
    return layers, state["radius"]


def _core_local(w: _Window) -> tuple[int, int, int, int]:
    y0, _, x0, _ = w.box
    cy0, cy1, cx0, cx1 = w.core
    return cy0 - y0, cy1 - y0, cx0 - x0, cx1 - x0


def _cca_collect(att: _Attention, x: torch.Tensor, w: _Window) -> None:
    y0, y1, x0, x1 = _core_local(w)
    core = x[:, :, y0:y1, x0:x1].double()
    s = att.stats
    s["sum"] = s.get("sum", 0) + core.sum(dim=(2, 3), keepdim=True)
    s["sumsq"] = s.get("sumsq", 0) + core.pow(2).sum(dim=(2, 3), keepdim=True)
    s["count"] = s.get("count", 0) + core.shape[-2] * core.shape[-1]


def _cca_apply(att: _Attention, x: torch.Tensor) -> torch.Tensor:
    s = att.stats
    if "pooled" not in s:
        mean = s["sum"] / s["count"]
        std = (s["sumsq"] / s["count"] - mean.pow(2)).clamp_min(0).sqrt()  # population std, as CCALayer
        s["pooled"] = (std + mean).to(x.dtype)
    return x * att.module.conv_du(s["pooled"])


def _pooled_size(n: int) -> int:
    return ((n - 3) // 2 + 1 - 7) // 3 + 1  # conv2 (k3, s2, p0), then max_pool2d (k7, s3)


def _esa_collect(att: _Attention, x: torch.Tensor, w: _Window) -> None:
    m: ESA = att.module
    (h, wd), s = w.image_hw, att.stats
    nh, nw = _pooled_size(h), _pooled_size(wd)
    if "vmax" not in s:
        s["vmax"] = torch.zeros(x.shape[0], m.conv2.out_channels, nh, nw, dtype=x.dtype, device=x.device)
    cy0, cy1, cx0, cx1 = w.core
    a0, a1 = -(-cy0 // ESA_STRIDE), min(-(-cy1 // ESA_STRIDE), nh)  # cells whose footprint starts in the core
    b0, b1 = -(-cx0 // ESA_STRIDE), min(-(-cx1 // ESA_STRIDE), nw)
    if a0 >= a1 or b0 >= b1:
        return
    y0, _, x0, _ = w.box
    ly0, ly1 = ESA_STRIDE * a0 - y0, ESA_STRIDE * (a1 - 1) + ESA_FOOTPRINT - y0
    lx0, lx1 = ESA_STRIDE * b0 - x0, ESA_STRIDE * (b1 - 1) + ESA_FOOTPRINT - x0
    if ly0 < 0 or lx0 < 0 or ly1 > x.shape[-2] or lx1 > x.shape[-1]:
        raise AssertionError(f"exact tiling: ESA window {w.box} misses the footprint of cells {a0}..{a1}")
    v = F.max_pool2d(m.conv2(m.conv1(x[:, :, ly0:ly1, lx0:lx1])), kernel_size=7, stride=3)
    s["vmax"][:, :, a0:a1, b0:b1] = v


def _source_index(out_size: int, in_size: int, start: int, stop: int, device) -> tuple[torch.Tensor, ...]:
    """PyTorch's bilinear source indices and weights (``align_corners=False``, no ``scale_factor``) for output
    positions ``start..stop-1`` of an ``in_size -> out_size`` resize, in float32 as its CPU kernel."""
    scale = torch.tensor(in_size, dtype=torch.float32) / out_size
    dst = torch.arange(start, stop, dtype=torch.float32, device=device)
    src = (scale.to(device) * (dst + 0.5) - 0.5).clamp_min(0)
    i0 = src.floor().long().clamp_max(in_size - 1)
    i1 = (i0 + 1).clamp_max(in_size - 1)
    l1 = src - i0.float()
    return i0, i1, 1 - l1, l1


def bilinear_window(low: torch.Tensor, size: tuple[int, int], box: tuple[int, int, int, int]) -> torch.Tensor:
    """``F.interpolate(low, size, mode="bilinear", align_corners=False)[..., y0:y1, x0:x1]`` without building the
    full-size map. ``box = (y0, y1, x0, x1)``."""
    y0, y1, x0, x1 = box
    i0, i1, a0, a1 = _source_index(size[0], low.shape[-2], y0, y1, low.device)
    j0, j1, b0, b1 = _source_index(size[1], low.shape[-1], x0, x1, low.device)
    rows = low[:, :, i0] * a0[:, None] + low[:, :, i1] * a1[:, None]
    return rows[..., j0] * b0 + rows[..., j1] * b1


def _esa_apply(att: _Attention, x: torch.Tensor, w: _Window) -> torch.Tensor:
    m: ESA = att.module
    s = att.stats
    if "c3" not in s:
        v_range = F.relu(m.conv_max(s.pop("vmax")))
        s["c3"] = m.conv3_(F.relu(m.conv3(v_range)))
    c1_ = m.conv1(x)
    up = bilinear_window(s["c3"], w.image_hw, w.box)
    return x * torch.sigmoid(m.conv4(up + m.conv_f(c1_)))


class _Streaming:
    """Swaps the attention layers' ``forward`` for their collect/apply versions while in use."""

    def __init__(self, layers: list[_Attention]):
        self.layers = layers
        self.collect: Optional[int] = None  # index of the layer collecting in this pass
        self.window: Optional[_Window] = None

    def _forward(self, i: int, x: torch.Tensor) -> torch.Tensor:
        att = self.layers[i]
        if i == self.collect:
            (_cca_collect if isinstance(att.module, CCALayer) else _esa_collect)(att, x, self.window)
            raise _Stop
        if isinstance(att.module, CCALayer):
            return _cca_apply(att, x)
        return _esa_apply(att, x, self.window)

    def __enter__(self) -> "_Streaming":
        for i, att in enumerate(self.layers):
            att.module.forward = (lambda x, _i=i: self._forward(_i, x))
        return self

    def __exit__(self, *exc) -> None:
        for att in self.layers:
            del att.module.forward  # the class's forward again


def _windows(n: int, tile: int, before: int, after: int) -> list[tuple[int, int, int, int]]:
    """``(core0, core1, win0, win1)`` along an axis of length ``n``: cores of ``tile``, windows reaching ``before``
    pixels before and ``after`` after the core (clipped to the image, where the network's zero padding applies)."""
    return [(c0, min(c0 + tile, n), max(c0 - before, 0), min(c0 + tile + after, n)) for c0 in range(0, n, tile)]


def count_windows(h: int, w: int, tile: int, layers: int) -> int:
    """How many window runs :func:`upscale_exact` makes for an ``h x w`` image with ``layers`` attention layers."""
    return (layers + 1) * math.ceil(h / tile) * math.ceil(w / tile)


@torch.no_grad()
def upscale_exact(model: nn.Module, x: torch.Tensor, scale: int, tile: int,
                  write: Callable[[tuple[int, int, int, int], torch.Tensor], None],
                  device: torch.device | str = "cpu", progress: Any = None) -> dict[str, int]:
    """Run ``model`` on ``x`` tile by tile, exactly (see the module docstring), handing each core's output to
    ``write((y0, y1, x0, x1) in SR pixels, (N, C, h, w) tensor)``.

    Args:
        model: an eval-mode srnas network (PyTorch), ``(N, 3, H, W)`` -> ``(N, 3, H*s, W*s)``.
        x: ``(N, 3, H, W)`` float input on CPU (moved to ``device`` one window at a time).
        scale: SR factor s.
        tile: core side in LR pixels (windows add the network's receptive radius on each side).
        device: where the model runs.
        progress: optional ``tqdm`` updated once per window run.

    Returns:
        ``{"attention_layers", "radius", "windows"}``: what it ran.
    """
    if tile < 1:
        raise SrnasError(f"--tile: need tile >= 1, got {tile}")
    h, w = x.shape[-2:]
    layers, radius = trace_attention(model, device)
    if min(h, w) < ESA_FOOTPRINT and any(isinstance(a.module, ESA) for a in layers):
        raise SrnasError(f"exact tiling: the image ({h}x{w}) is smaller than ESA's {ESA_FOOTPRINT} pixels")
    runs = 0
    with _Streaming(layers) as stream:
        for k, att in enumerate(layers):  # one pass per attention layer, in execution order
            stream.collect = k
            after = att.radius + (ESA_FOOTPRINT - 1 if isinstance(att.module, ESA) else 0)
            for cy0, cy1, wy0, wy1 in _windows(h, tile, att.radius, after):
                for cx0, cx1, wx0, wx1 in _windows(w, tile, att.radius, after):
                    stream.window = _Window((wy0, wy1, wx0, wx1), (cy0, cy1, cx0, cx1), (h, w))
                    try:
                        model(x[:, :, wy0:wy1, wx0:wx1].to(device))
                    except _Stop:
                        pass
                    runs += 1
                    if progress is not None:
                        progress.update(1)
        stream.collect = None
        for cy0, cy1, wy0, wy1 in _windows(h, tile, radius, radius):
            for cx0, cx1, wx0, wx1 in _windows(w, tile, radius, radius):
                stream.window = _Window((wy0, wy1, wx0, wx1), (cy0, cy1, cx0, cx1), (h, w))
                sr = model(x[:, :, wy0:wy1, wx0:wx1].to(device))
                oy, ox = (cy0 - wy0) * scale, (cx0 - wx0) * scale
                write((cy0 * scale, cy1 * scale, cx0 * scale, cx1 * scale),
                      sr[:, :, oy:oy + (cy1 - cy0) * scale, ox:ox + (cx1 - cx0) * scale])
                runs += 1
                if progress is not None:
                    progress.update(1)
    return {"attention_layers": len(layers), "radius": radius, "windows": runs}
