"""Benchmark test sets in the EDSR/BasicSR layout (Set5, Set14, B100, Urban100, ...).

Layout (see ``../shared/data/README.md``)::

    <root>/<name>/HR/<stem>.png
    <root>/<name>/LR_bicubic/X<s>/<stem>x<s>.png

``LR.shape * s == modcrop(HR, s).shape`` is checked for every pair; the ground truth is the HR cropped top-left to
that size (EDSR and BasicSR both do this). When ``LR_bicubic/X<s>`` is absent (Urban100 in ``../shared``), the LR is
generated from the HR with the MATLAB-exact bicubic (:func:`srnas.data.resize.downscale`), which reproduces the
shipped LR files bit for bit.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from srnas.data.imageio import list_images, read_image
from srnas.data.resize import downscale
from srnas.data.transforms import mod_crop
from srnas.errors import SrnasError


def crop_gt_to_lq(
    hr: np.ndarray, lq: np.ndarray, scale: int, hr_path: Path | str = "HR", lq_path: Path | str | None = None
) -> np.ndarray:
    """HR cropped top-left to ``lq.shape * scale`` after checking that this is ``modcrop(HR, scale)``.

    Args:
        hr: uint8 ``(H, W, 3)``.
        lq: uint8 ``(h, w, 3)``, the bicubic LR of ``hr``.
        scale: SR factor s.
        hr_path, lq_path: file names for the error message (``lq_path`` None: LR generated from the HR).

    Returns:
        contiguous uint8 ``(h*s, w*s, 3)``.
    """
    want = (hr.shape[0] - hr.shape[0] % scale, hr.shape[1] - hr.shape[1] % scale)
    if (lq.shape[0] * scale, lq.shape[1] * scale) != want:
        raise SrnasError(
            f"{lq_path or 'generated LR'}: LR is {lq.shape[1]}x{lq.shape[0]} (W x H), x{scale} gives "
            f"{lq.shape[1] * scale}x{lq.shape[0] * scale}, but HR {Path(hr_path).name} cropped to a multiple of "
            f"{scale} is {want[1]}x{want[0]}"
        )
    return np.ascontiguousarray(mod_crop(hr, scale))


class BenchmarkDataset(Dataset):
    """Whole-image LR/HR pairs of one benchmark set at one scale, in sorted file order.

    Items are ``dict(lq=uint8 (h, w, 3), gt=uint8 (h*s, w*s, 3), name=str, lq_path=str)`` (RGB, HWC). HR images are
    read on access; generated LR images are cached in memory per instance.

    Args:
        root: folder holding the set folders (e.g. ``datasets/benchmark``).
        name: set folder name (e.g. ``Set5``).
        scale: SR factor s (2, 3, 4, ...).
    """

    def __init__(self, root: str | os.PathLike, name: str, scale: int):
        self.root = Path(root)
        self.name = name
        self.scale = int(scale)
        if not self.root.is_dir():
            raise SrnasError(f"{self.root}: benchmark root folder does not exist")
        set_dir = self.root / name
        if not set_dir.is_dir():
            found = sorted(p.name for p in self.root.iterdir() if (p / "HR").is_dir())
            raise SrnasError(f"{set_dir}: no such benchmark set; found in {self.root}: {', '.join(found) or 'none'}")
        self.hr_paths = list_images(set_dir / "HR")
        lr_dir = set_dir / "LR_bicubic" / f"X{self.scale}"
        self.generated = not lr_dir.is_dir()  # True: LR made on the fly from the HR
        self.lr_paths: list[Path | None] = []
        for hr in self.hr_paths:
            if self.generated:
                self.lr_paths.append(None)
                continue
            lr = lr_dir / f"{hr.stem}x{self.scale}.png"
            if not lr.is_file():
                raise SrnasError(f"{lr}: LR file missing for {hr}")
            self.lr_paths.append(lr)
        self._lr_cache: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.hr_paths)

    def __getitem__(self, index: int) -> dict[str, Any]:
        hr_path, lr_path = self.hr_paths[index], self.lr_paths[index]
        hr = read_image(hr_path)
        s = self.scale
        if lr_path is None:
            if index not in self._lr_cache:
                self._lr_cache[index] = downscale(hr, s)
            lq = self._lr_cache[index]
        else:
            lq = read_image(lr_path)
        gt = crop_gt_to_lq(hr, lq, s, hr_path, lr_path)
        return {"lq": lq, "gt": gt, "name": hr_path.stem, "lq_path": str(lr_path or f"{hr_path} (LR generated)")}

    def __repr__(self) -> str:
        lr = "generated" if self.generated else "files"
        return f"BenchmarkDataset({self.root / self.name}, x{self.scale}, {len(self)} images, LR {lr})"
