"""Training batches as a pure function of ``(seed, stream, step)``: exact resume, and each rank its shard."""
from __future__ import annotations

from typing import Iterator, Optional

import torch
from torch.utils.data import DataLoader

from srnas.config.common import HRFolder, ValSet
from srnas.data.folders import TrainDataset
from srnas.data.paired import BenchmarkDataset
from srnas.data.sampling import StepBatchSampler
from srnas.errors import SrnasError
from srnas.utils.device import dist_info
from srnas.utils.experiment import resolve_path


def make_dataset(split: HRFolder, scale: int, seed: int) -> TrainDataset:
    return TrainDataset(resolve_path(split.hr_dir), scale, split.lq_patch,
                        lq_dir=None if split.lq_dir is None else resolve_path(split.lq_dir),
                        index_range=split.index_range, augment=split.augment, seed=seed, preload=split.preload)


def batches(dataset: TrainDataset, split: HRFolder, seed: int, stream: int, start: int, stop: int,
            device: torch.device, shard: bool = True) -> Iterator[dict[str, torch.Tensor]]:
    """The batches of steps ``start..stop-1`` (a pure function of ``(seed, stream, step)``: exact resume). Under
    ``torchrun`` each rank gets its slice of the global batch (``batch_size`` is the global batch) unless ``shard`` is
    False (every rank then loads the whole batch)."""
    rank, world = dist_info() if shard else (0, 1)
    if split.batch_size % world:
        raise SrnasError(f"batch_size {split.batch_size} must be divisible by the {world} data-parallel processes")
    sampler = StepBatchSampler(len(dataset), split.batch_size, seed, start, stop, stream, rank, world)
    loader = DataLoader(dataset, batch_sampler=sampler, num_workers=split.num_workers,
                        pin_memory=device.type == "cuda")
    for batch in loader:
        yield {k: batch[k].to(device, non_blocking=True) for k in ("lq", "gt")}


def validation_set(val: Optional[ValSet], scale: int) -> Optional[BenchmarkDataset]:
    """The benchmark set of ``datasets.val`` (None without one)."""
    return None if val is None else BenchmarkDataset(resolve_path(val.root), val.name, scale)
