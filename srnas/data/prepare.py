"""Offline LR generation and sub-image extraction (BasicSR ``scripts/data_preparation/extract_subimages.py``).

Output layout (the one :class:`srnas.data.paired.BenchmarkDataset` and :class:`srnas.data.folders.TrainDataset`
read)::

    <out>/HR/<name>.png                          (the HR, or its crops <stem>_s001.png, <stem>_s002.png, ...)
    <out>/LR_bicubic/X<s>/<name>x<s>.png         MATLAB-exact bicubic LR of the same image / crop

HR images are written as the decoded RGB (so a grayscale HR becomes 3-channel). Without ``crop`` the HR is
written whole (not cropped to a multiple of s) and the LR is made from ``modcrop(HR, s)``.
With ``crop``/``step`` the HR is cut into overlapping ``crop`` squares every ``step`` pixels (BasicSR: 480 / 240 for
DIV2K) plus a last crop flush with the right/bottom border when more than ``thresh_size`` pixels would be left over;
the LR crops are the same windows of the whole-image LR (``crop/s`` at ``position/s``), so every crop pair is exactly
aligned. deviation: BasicSR strips ``x2`` from LR crop names so HR/LR share a name; srnas keeps ``<name>x<s>.png``.
"""
from __future__ import annotations

import math
import os
from functools import reduce
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from srnas.data.imageio import list_images, read_image, write_image
from srnas.data.resize import downscale
from srnas.errors import SrnasError


def crop_positions(length: int, crop: int, step: int, thresh_size: int = 0) -> list[int]:
    """Start offsets along one side, as BasicSR ``extract_subimages``: ``0, step, ...`` plus a border-flush crop."""
    space = list(range(0, length - crop + 1, step))
    if length - (space[-1] + crop) > thresh_size:
        space.append(length - crop)
    return space


def _plan(hr: np.ndarray, stem: str, crop: int | None, step: int | None, thresh: int, lcm: int, path: Path):
    """``[(name, top, left, size)]`` of the HR pieces to write (one whole-image entry when ``crop`` is None)."""
    if crop is None:
        return [(stem, 0, 0, None)]
    h, w = hr.shape[0] - hr.shape[0] % lcm, hr.shape[1] - hr.shape[1] % lcm
    if h < crop or w < crop:
        raise SrnasError(f"{path}: {hr.shape[1]}x{hr.shape[0]} (W x H) is smaller than the crop {crop}")
    tops, lefts = crop_positions(h, crop, step, thresh), crop_positions(w, crop, step, thresh)
    pieces, idx = [], 0
    for top in tops:  # BasicSR order: rows outer, columns inner; index from 1
        for left in lefts:
            idx += 1
            pieces.append((f"{stem}_s{idx:03d}", top, left, crop))
    return pieces


def prepare(
    hr_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    scales: Sequence[int],
    crop: int | None = None,
    step: int | None = None,
    thresh_size: int = 0,
    progress: Callable[[Iterable], Iterable] | None = None,
    force: bool = False,
    skip_existing: bool = False,
) -> int:
    """Write ``<out>/HR`` and ``<out>/LR_bicubic/X<s>`` for every image of ``hr_dir``.

    Args:
        hr_dir: folder of HR images.
        out_dir: output root.
        scales: SR factors, e.g. ``(2, 3, 4)``.
        crop: HR sub-image side (BasicSR: 480); None writes whole images. Must be a multiple of every scale.
        step: stride between sub-images (BasicSR: 240); default ``crop``. Must be a multiple of every scale.
        thresh_size: add a border-flush crop when more than this many pixels are left over (BasicSR: 0).
        progress: wraps the image iterator, e.g. ``tqdm.tqdm``.
        force: overwrite existing output files.
        skip_existing: keep output files that already exist (resume an interrupted run) instead of failing.

    Returns:
        number of files written.

    Raises:
        SrnasError: bad arguments, unreadable image, image smaller than ``crop``, or an output file exists and
        neither ``force`` nor ``skip_existing`` is set (checked per image before writing it).
    """
    scales = [int(s) for s in scales]
    if not scales or min(scales) < 1:
        raise SrnasError(f"prepare: scales must be positive integers, got {scales}")
    lcm = reduce(lambda a, b: a * b // math.gcd(a, b), scales)
    if crop is not None:
        step = crop if step is None else step
        if crop < 1 or step < 1 or crop % lcm or step % lcm:
            raise SrnasError(
                f"prepare: crop {crop} and step {step} must be positive multiples of {lcm} (scales {scales})"
            )
    out_dir = Path(out_dir)
    paths = list_images(hr_dir)
    written = 0
    for path in progress(paths) if progress is not None else paths:
        hr = read_image(path)
        pieces = _plan(hr, path.stem, crop, step, thresh_size, lcm, path)
        outputs = [out_dir / "HR" / f"{name}.png" for name, *_ in pieces]
        outputs += [out_dir / "LR_bicubic" / f"X{s}" / f"{name}x{s}.png" for s in scales for name, *_ in pieces]
        existing = [p for p in outputs if p.exists()]
        if existing and not (force or skip_existing):
            raise SrnasError(f"{existing[0]}: already exists (pass force=True to overwrite or skip_existing=True)")
        if skip_existing and not force and len(existing) == len(outputs):
            continue
        lrs = {s: downscale(hr, s) for s in scales}
        for name, top, left, size in pieces:
            hr_piece = hr if size is None else hr[top : top + size, left : left + size]
            targets = [(out_dir / "HR" / f"{name}.png", hr_piece)]
            for s in scales:
                lr = lrs[s] if size is None else lrs[s][top // s : (top + size) // s, left // s : (left + size) // s]
                targets.append((out_dir / "LR_bicubic" / f"X{s}" / f"{name}x{s}.png", lr))
            for target, img in targets:
                if target.exists() and skip_existing and not force:
                    continue
                write_image(target, np.ascontiguousarray(img))
                written += 1
    return written

