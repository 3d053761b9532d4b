"""Clocks shared by the benchmarks: one timed call, and how busy the machine was."""
from __future__ import annotations

import os
import time
from typing import Callable, Optional

import torch


def load_note() -> str:
    """One line on how busy the machine is (1-minute load average vs cores)."""
    try:
        la = os.getloadavg()[0]
    except OSError:
        return "load average unavailable"
    return f"load average {la:.2f} on {os.cpu_count()} cores"


def timed(fn: Callable[[], object], device: Optional[torch.device] = None) -> tuple[float, float]:
    """``(wall s, CPU s)`` of ``fn()``: CPU = process CPU time / torch's thread count, what the call would take on an
    otherwise idle machine (on a shared one the wall clock also counts waiting for a core). On CUDA the device is
    synchronized before and after, and CPU is the wall time."""
    cuda = device is not None and torch.device(device).type == "cuda"
    if cuda:
        torch.cuda.synchronize()
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    if cuda:
        torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    return wall, wall if cuda else (time.process_time() - c0) / torch.get_num_threads()
