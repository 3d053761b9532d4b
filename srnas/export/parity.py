"""Parity of an exported network with the PyTorch one: the same real image through both, max abs difference.

The check runs at two input sizes (a square and a non-square crop of the image), neither equal to the size the
export traced, so a graph specialised to one input size fails it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from srnas.data import read_image
from srnas.errors import SrnasError

Model = Callable[[torch.Tensor], torch.Tensor]
PARITY_TOL = 1e-4  # max abs difference allowed on outputs in [0, 1]
CHECK_SIZES = ((96, 96), (72, 88))  # (h, w) crops of the check image; traced size is TRACE_SIZE
TRACE_SIZE = (48, 48)


def default_check_image() -> Path:
    """Set5 ``babyx2.png`` (LR, 256x256) shipped in ``datasets/benchmark``."""
    from srnas.eval.bench import default_data_root

    return default_data_root() / "Set5" / "LR_bicubic" / "X2" / "babyx2.png"


def image_crops(image: np.ndarray, sizes: Sequence[tuple[int, int]] = CHECK_SIZES) -> list[torch.Tensor]:
    """Centre crops of a uint8 RGB ``(H, W, 3)`` image as ``(1, 3, h, w)`` float32 tensors in [0, 1].

    A crop larger than the image is reduced to the image size.
    """
    h, w = image.shape[:2]
    crops = []
    for ch, cw in sizes:
        ch, cw = min(ch, h), min(cw, w)
        y, x = (h - ch) // 2, (w - cw) // 2
        patch = np.ascontiguousarray(image[y:y + ch, x:x + cw].transpose(2, 0, 1))
        crops.append(torch.from_numpy(patch).float().div_(255.0).unsqueeze(0))
    return crops


def check_inputs(image: str | Path | None = None, sizes: Sequence[tuple[int, int]] = CHECK_SIZES) -> list[torch.Tensor]:
    """The parity inputs: crops of ``image`` (default :func:`default_check_image`)."""
    path = Path(image) if image is not None else default_check_image()
    return image_crops(read_image(path), sizes)


@torch.no_grad()
def max_abs_diff(reference: Model, candidate: Model, inputs: Sequence[torch.Tensor]) -> float:
    """Largest ``|reference(x) - candidate(x)|`` over all ``inputs`` (both run on CPU float32).

    Args:
        reference: the PyTorch network, eval mode; ``(1, 3, h, w)`` in [0, 1] -> ``(1, 3, h*s, w*s)``.
        candidate: the exported network, same contract (a ``torch.jit`` module or an ONNX runner).
        inputs: ``(1, 3, h, w)`` float32 tensors in [0, 1].

    Raises:
        SrnasError: the two outputs differ in shape (e.g. a graph fixed to the traced size).
    """
    worst = 0.0
    for x in inputs:
        a, b = reference(x).float(), candidate(x).float()
        if a.shape != b.shape:
            raise SrnasError(f"parity: exported model returned {tuple(b.shape)} for input {tuple(x.shape)}, "
                             f"PyTorch {tuple(a.shape)}")
        worst = max(worst, float((a - b).abs().max()))
    return worst


def check_parity(reference: Model, candidate: Model, inputs: Sequence[torch.Tensor], tol: float = PARITY_TOL,
                 what: str = "exported model") -> float:
    """:func:`max_abs_diff`, raising SrnasError above ``tol`` (also for NaN); returns the difference."""
    diff = max_abs_diff(reference, candidate, inputs)
    if not diff <= tol:
        sizes = ", ".join(f"{x.shape[-2]}x{x.shape[-1]}" for x in inputs)
        raise SrnasError(f"{what}: max abs difference {diff:.3g} from the PyTorch model exceeds {tol:g} "
                         f"(inputs {sizes})")
    return diff
