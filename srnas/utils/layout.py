"""Memory layout of 4-d activations (channels-last NHWC or NCHW), read from strides so that channel slices count."""
from __future__ import annotations

import torch
from torch import Tensor


def is_nhwc(t: Tensor) -> bool:
    """``t`` (4-d) has its channels innermost: a channels-last tensor or a channel slice of one (IMDN's split)."""
    return t.dim() == 4 and t.stride(1) < t.stride(3)


def memory_format_of(t: Tensor) -> torch.memory_format:
    """``torch.channels_last`` for an NHWC ``t`` (:func:`is_nhwc`), else ``torch.contiguous_format``."""
    return torch.channels_last if is_nhwc(t) else torch.contiguous_format
