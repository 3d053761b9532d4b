"""Timing ONNX graphs on ONNX Runtime: sessions with pinned threads, warm-up, median and p90 of repeated runs.

The recipe of public NAS latency tables (FBNet, ProxylessNAS; nn-Meter's measurement notes): one intra-op thread by
default, the process pinned to fixed cores, warm-up runs discarded, the median of many runs kept with its spread.
"""
from __future__ import annotations

import io
import os
import statistics
import time
import warnings
from contextlib import contextmanager
from typing import Iterator, Sequence

import numpy as np
import torch
from torch import nn

from srnas.errors import SrnasError

PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}
OPSET = 17  # TorchScript-based exporter: 7x faster to export than opset 18 (dynamo), same ORT graph after fusion


def provider_name(provider: str) -> str:
    """ONNX Runtime's name of ``provider`` (cpu | cuda | tensorrt); SrnasError when this onnxruntime lacks it."""
    import onnxruntime as ort

    if provider not in PROVIDERS:
        raise SrnasError(f"--provider: unknown runtime {provider!r}; choose one of: {', '.join(PROVIDERS)}")
    name = PROVIDERS[provider]
    if name not in ort.get_available_providers():
        raise SrnasError(f"--provider: {name} is not available in this onnxruntime "
                         f"(available: {', '.join(ort.get_available_providers())})")
    return name


def to_onnx(module: nn.Module, inputs: Sequence[torch.Tensor], opset: int = OPSET) -> bytes:
    """Serialised ONNX graph of an eval-mode ``module`` called on ``inputs`` (named ``in0``, ``in1``, ...)."""
    buf = io.BytesIO()
    names = [f"in{i}" for i in range(len(inputs))]
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), tuple(inputs), buf, input_names=names, output_names=["out"],
                          opset_version=opset, dynamo=False, do_constant_folding=True)
    return buf.getvalue()


def session(model: bytes | str, provider: str = "cpu", threads: int = 1):
    """An ONNX Runtime session: full graph optimisation (as deployed), ``threads`` intra-op threads, sequential."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    return ort.InferenceSession(model, sess_options=opts, providers=[provider_name(provider)])


def feeds(inputs: Sequence[torch.Tensor]) -> dict[str, np.ndarray]:
    return {f"in{i}": np.ascontiguousarray(x.numpy()) for i, x in enumerate(inputs)}


def time_sessions(runs: dict[str, tuple[object, dict[str, np.ndarray]]], warmup: int = 2,
                  repeats: int = 10) -> dict[str, dict[str, float]]:
    """Milliseconds of ``sess.run(None, feeds)`` for each ``name: (session, feeds)``, interleaved: ``warmup`` discarded
    runs of each, then ``repeats`` rounds of one run of each, so that a change of load on the machine (another job
    starting or stopping) hits all of them alike and their differences stay fair. Per name ``{"median", "p90", "min",
    "runs"}``."""
    for sess, feeds in runs.values():
        for _ in range(warmup):
            sess.run(None, feeds)
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, (sess, feeds) in runs.items():
            t0 = time.perf_counter()
            sess.run(None, feeds)
            times[name].append((time.perf_counter() - t0) * 1e3)
    return {name: {"median": statistics.median(t), "p90": float(np.percentile(t, 90)), "min": min(t), "runs": len(t)}
            for name, t in times.items()}


def time_group(pieces: dict[str, tuple[nn.Module, Sequence[torch.Tensor]]], provider: str = "cpu", threads: int = 1,
               warmup: int = 2, repeats: int = 10) -> dict[str, dict[str, float]]:
    """Export each module (BN already folded by the caller) and time them interleaved on their inputs
    (:func:`time_sessions`)."""
    runs = {name: (session(to_onnx(module, inputs), provider, threads), feeds(inputs))
            for name, (module, inputs) in pieces.items()}
    return time_sessions(runs, warmup, repeats)



@contextmanager
def pinned(threads: int, enabled: bool = True) -> Iterator[list[int]]:
    """Pin this process to its last ``threads`` allowed cores while timing (Linux), then restore the affinity."""
    if not enabled or not hasattr(os, "sched_getaffinity"):
        yield []
        return
    before = os.sched_getaffinity(0)
    cores = sorted(before)[-threads:]
    os.sched_setaffinity(0, cores)
    try:
        yield cores
    finally:
        os.sched_setaffinity(0, before)
