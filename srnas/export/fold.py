"""The compact deployment network: BatchNorm folded into the convolution it follows.

The IMDN-space ``_bn`` ops are ``nn.Sequential(conv, bn)`` and ``nn.Sequential(dw, pw, bn)`` (``archs/ops.py``): in eval
mode the BN is an affine map per channel of the conv's output, so it folds into that conv's weight and bias
(``w' = w * g / sqrt(v + eps)``, ``b' = (b - m) * g / sqrt(v + eps) + beta``) and the BN disappears from the graph.
A derived SAC network needs nothing: in SR, SAC's partial channels exist only in the supernet (method notes §2), so
its derived network is the plain full-width network, and :func:`compact` returns an unchanged copy.
"""
from __future__ import annotations

import copy

import torch
from torch import nn


def fold_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A new conv computing ``bn(conv(x))`` of an eval-mode BN, the arithmetic done in float64.

    Args:
        conv: any Conv2d (groups, dilation, bias or not) whose output channels are ``bn.num_features``.
        bn: a BatchNorm2d with running statistics.

    Returns:
        A Conv2d with a bias, same dtype and device as ``conv``.
    """
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("fold_conv_bn: the BatchNorm keeps no running statistics (track_running_stats=False)")
    if conv.out_channels != bn.num_features:
        raise ValueError(f"fold_conv_bn: conv has {conv.out_channels} outputs, BN {bn.num_features} channels")
    w = conv.weight.detach().double()
    b = conv.bias.detach().double() if conv.bias is not None else torch.zeros(conv.out_channels, dtype=torch.float64,
                                                                               device=w.device)
    gamma = bn.weight.detach().double() if bn.weight is not None else torch.ones_like(b)
    beta = bn.bias.detach().double() if bn.bias is not None else torch.zeros_like(b)
    inv_std = torch.rsqrt(bn.running_var.detach().double() + bn.eps)
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride, padding=conv.padding,
                      dilation=conv.dilation, groups=conv.groups, bias=True, padding_mode=conv.padding_mode)
    fused = fused.to(device=conv.weight.device, dtype=conv.weight.dtype)
    with torch.no_grad():
        fused.weight.copy_(w * (gamma * inv_std).reshape(-1, 1, 1, 1))
        fused.bias.copy_((b - bn.running_mean.detach().double()) * inv_std * gamma + beta)
    return fused


def _foldable(conv: nn.Module, bn: nn.Module) -> bool:
    return (type(conv) is nn.Conv2d and type(bn) is nn.BatchNorm2d and bn.running_mean is not None
            and conv.out_channels == bn.num_features)


def _fold_sequential(seq: nn.Sequential) -> tuple[nn.Sequential, int]:
    layers, folded = [], 0
    for layer in seq:
        if layers and _foldable(layers[-1], layer):
            layers[-1] = fold_conv_bn(layers[-1], layer)
            folded += 1
        else:
            layers.append(layer)
    return nn.Sequential(*layers), folded


def fold_batchnorm(model: nn.Module) -> int:
    """Fold, in place, every BatchNorm2d that directly follows a Conv2d inside an ``nn.Sequential``.

    The BN is removed from its Sequential (later layers move up one index). BNs elsewhere (not after a conv, or
    outside a Sequential) are left as they are. Only valid for inference: call on an eval-mode model.

    Returns:
        The number of BatchNorm layers folded.
    """
    total = 0
    for name, child in list(model.named_children()):
        if isinstance(child, nn.Sequential):
            new, n = _fold_sequential(child)
            if n:
                setattr(model, name, new)
                total += n
                child = new
        total += fold_batchnorm(child)
    return total


def compact(model: nn.Module) -> tuple[nn.Module, int]:
    """An eval-mode copy of ``model`` for deployment: no gradients, BatchNorm folded (``model`` is unchanged).

    Returns:
        ``(network, number of BatchNorm layers folded)``; the network maps the same input to the same output (up to
        float rounding, about 1e-6 for [0, 1] images).
    """
    net = copy.deepcopy(model).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net, fold_batchnorm(net)
