"""Batches as a pure function of the step: exact resume with any number of DataLoader workers.

:class:`StepBatchSampler` yields, for each step ``t`` in ``[start, stop)``, ``batch_size`` pairs
``(image_index, item_seed)`` drawn from a generator seeded by ``(seed, t)``; :class:`~srnas.data.TrainDataset` crops
and augments item ``(i, s)`` with an RNG seeded by ``s``. A run resumed at step ``t`` therefore sees exactly the batches
an uninterrupted run would, whatever process or worker loads them.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
from torch.utils.data import Sampler


class StepBatchSampler(Sampler):
    """Batches of ``(index, seed)`` for steps ``start..stop-1`` (images drawn uniformly with replacement)."""

    def __init__(self, num_items: int, batch_size: int, seed: int, start: int, stop: int, stream: int = 0,
                 rank: int = 0, world_size: int = 1):
        if batch_size % world_size:
            raise ValueError(f"batch_size {batch_size} is not divisible by the {world_size} data-parallel ranks")
        self.num_items, self.batch_size = int(num_items), int(batch_size)
        self.seed, self.start, self.stop, self.stream = int(seed), int(start), int(stop), int(stream)
        self.rank, self.world_size = rank, world_size

    def batch(self, step: int) -> list[tuple[int, int]]:
        """This rank's share (a contiguous slice) of the global batch of ``step``."""
        rng = np.random.default_rng([self.seed, self.stream, step])
        idx = rng.integers(0, self.num_items, size=self.batch_size)
        seeds = rng.integers(0, 2 ** 63 - 1, size=self.batch_size)
        per = self.batch_size // self.world_size
        part = slice(self.rank * per, (self.rank + 1) * per)
        return [(int(i), int(s)) for i, s in zip(idx[part], seeds[part])]

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for step in range(self.start, self.stop):
            yield self.batch(step)

    def __len__(self) -> int:
        return max(self.stop - self.start, 0)
