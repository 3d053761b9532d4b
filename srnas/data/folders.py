"""Training patches from a folder of HR images (DIV2K / DF2K / T91 layout).

``hr_dir`` holds the HR images; ``lq_dir`` (optional) the matching LR files named ``<stem>x<s>.png`` (DIV2K's
``DIV2K_train_LR_bicubic/X2/0001x2.png``, or the output of :func:`srnas.data.prepare.prepare`). Without ``lq_dir`` the
LR is made from the HR with the MATLAB-exact bicubic (:func:`srnas.data.resize.downscale`).

Randomness (crop position, flips, rot90): every item gets a fresh ``np.random.Generator`` seeded with ``seed`` and one
64-bit draw from the torch RNG of the process that loads it. DataLoader seeds each worker's torch RNG with
``base_seed + worker_id``, ``base_seed`` being drawn from the main process' torch RNG each time an iterator starts,
so workers differ from each other and from epoch to epoch; with ``num_workers=0`` the draws come from the main torch
RNG. Either way a run is reproducible from ``torch.manual_seed`` (for a fixed ``num_workers``), and checkpointing the
torch RNG state is enough to resume exactly; the dataset itself holds no RNG state. (An RNG derived from
``(seed, index)`` alone would give the same patch of an image in every epoch.)
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from srnas.data.imageio import list_images, read_image
from srnas.data.paired import crop_gt_to_lq
from srnas.data.resize import downscale
from srnas.data.transforms import augment as augment_pair
from srnas.data.transforms import img2tensor, paired_random_crop
from srnas.errors import SrnasError


def select_range(paths: list[Path], index_range: tuple[int, int] | None, where: str) -> list[Path]:
    """Files ``a..b`` (1-based, inclusive) of a sorted list, as DLSR's ``--data_range 1-600/601-800``."""
    if index_range is None:
        return paths
    a, b = (int(v) for v in index_range)
    if not 1 <= a <= b <= len(paths):
        raise SrnasError(f"{where}: index_range ({a}, {b}) must satisfy 1 <= a <= b <= {len(paths)} (images found)")
    return paths[a - 1 : b]


class TrainDataset(Dataset):
    """Random aligned LR/HR training patches with flips and rot90.

    Items are ``dict(lq=(3, p, p), gt=(3, p*s, p*s), name=str)``, float32 tensors in ``[0, rgb_range]``.

    Args:
        hr_dir: folder of HR images (sorted by file name).
        scale: SR factor s.
        lq_patch: LR patch side p (HR patch ``p * s``; DLSR/EDSR ``--patch_size`` is the HR side).
        lq_dir: folder of LR images ``<stem>x<s>.png``; None: LR made with the MATLAB bicubic.
        index_range: ``(a, b)``, 1-based inclusive indices into the sorted HR list (None: all).
        augment: random horizontal flip, vertical flip and transpose (the 8 rotations/flips).
        repeat: the dataset length is ``repeat * n_images`` (EDSR/BasicSR ``dataset_enlarge_ratio``).
        seed: mixed into every item's patch RNG with a draw from the torch RNG (see the module docstring).
        preload: decode every image (and make every LR) at construction; False reads files on each access
            (for folders too big for memory; without ``lq_dir`` the LR is then recomputed on every access, which is
            slow: make LR files with :func:`srnas.data.prepare.prepare` first).
        rgb_range: 1 for ``[0, 1]`` tensors (IMDN, BasicSR), 255 for ``[0, 255]`` (EDSR, DLSR).

    Raises:
        SrnasError: missing folder or LR file, LR/HR size mismatch, an image smaller than the HR patch.
    """

    def __init__(
        self,
        hr_dir: str | os.PathLike,
        scale: int,
        lq_patch: int,
        lq_dir: str | os.PathLike | None = None,
        index_range: tuple[int, int] | None = None,
        augment: bool = True,
        repeat: int = 1,
        seed: int = 0,
        preload: bool = True,
        rgb_range: float = 1.0,
    ):
        self.scale, self.lq_patch, self.augment = int(scale), int(lq_patch), augment
        self.repeat, self.seed, self.preload, self.rgb_range = int(repeat), int(seed), preload, rgb_range
        if self.lq_patch < 1 or self.repeat < 1 or self.scale < 1:
            raise SrnasError(f"{hr_dir}: scale, lq_patch and repeat must be >= 1, got {scale}, {lq_patch}, {repeat}")
        self.hr_paths = select_range(list_images(hr_dir), index_range, str(hr_dir))
        self.lq_paths: list[Path | None] = [None] * len(self.hr_paths)
        if lq_dir is not None:
            if not Path(lq_dir).is_dir():
                raise SrnasError(f"{lq_dir}: no such LR folder")
            self.lq_paths = [Path(lq_dir) / f"{p.stem}x{self.scale}.png" for p in self.hr_paths]
            missing = [p for p in self.lq_paths if not p.is_file()]
            if missing:
                raise SrnasError(f"{missing[0]}: LR file missing for {self.hr_paths[self.lq_paths.index(missing[0])]}")
        self._pairs = [self._load(i) for i in range(len(self.hr_paths))] if preload else None

    def _load(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Decoded ``(lq, gt)`` uint8 HWC pair of image ``i``, checked against the patch size."""
        hr_path, lq_path = self.hr_paths[i], self.lq_paths[i]
        hr = read_image(hr_path)
        gp = self.lq_patch * self.scale
        if hr.shape[0] < gp or hr.shape[1] < gp:
            raise SrnasError(f"{hr_path}: {hr.shape[1]}x{hr.shape[0]} (W x H) is smaller than the HR patch {gp}x{gp}")
        lq = downscale(hr, self.scale) if lq_path is None else read_image(lq_path)
        return lq, crop_gt_to_lq(hr, lq, self.scale, hr_path, lq_path)

    def _generator(self) -> np.random.Generator:
        """A patch RNG for one item, drawn from this process' torch RNG (see the module docstring)."""
        return np.random.default_rng([self.seed, int(torch.randint(0, 2**62, ()).item())])

    def __len__(self) -> int:
        return len(self.hr_paths) * self.repeat

    def __getitem__(self, index: int | tuple[int, int]) -> dict[str, Any]:
        """Item ``index``, or ``(index, item_seed)`` from :class:`~srnas.data.sampling.StepBatchSampler`: the crop and
        flips then come from an RNG seeded by ``(seed, item_seed)``, so a batch is a pure function of its step."""
        if isinstance(index, (tuple, list)):
            index, item_seed = index
            rng = np.random.default_rng([self.seed, int(item_seed)])
        else:
            rng = self._generator()
        i = index % len(self.hr_paths)
        lq, gt = self._pairs[i] if self._pairs is not None else self._load(i)
        lq, gt = paired_random_crop(lq, gt, self.lq_patch, self.scale, rng, name=str(self.hr_paths[i]))
        if self.augment:
            lq, gt = augment_pair([lq, gt], hflip=True, rot=True, rng=rng)
        return {
            "lq": img2tensor(lq, self.rgb_range),
            "gt": img2tensor(gt, self.rgb_range),
            "name": self.hr_paths[i].stem,
        }

    def __repr__(self) -> str:
        lr = "generated" if self.lq_paths[0] is None else "files"
        return (
            f"TrainDataset({len(self.hr_paths)} images x{self.repeat}, x{self.scale}, LR patch {self.lq_patch}, "
            f"LR {lr}, augment={self.augment})"
        )
