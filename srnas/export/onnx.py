"""ONNX export (input ``lq``, output ``sr``, dynamic batch/height/width) and an ONNX Runtime runner.

Exporter (checked with torch 2.14, onnxscript 0.7, onnxruntime 1.32):

* opset >= 18 (default 18): the ``torch.export``-based exporter (``dynamo=True``), the supported path since torch
  2.9. Its graphs are cleaner (no Shape/Gather/Unsqueeze chains, ``sr`` typed ``2*height x 2*width``).
* opset < 18: the dynamo exporter would translate at 18 and down-convert, and that conversion fails on IMDN's
  ``ReduceMean`` (axes as an input), leaving opset 18 in the file with only a logged warning; so srnas uses the
  TorchScript-based exporter (``dynamo=False``, deprecated in torch 2.9) for those opsets.

Either way the model is checked with ``onnx.checker``, its opset verified, the per-node debug metadata (stack traces
with local paths) dropped, and it is written as one self-contained file (weights inside, no external data).
"""
from __future__ import annotations

import io
import json
import logging
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
from torch import nn

from srnas.errors import SrnasError

DEFAULT_OPSET = 18
MIN_OPSET = 11  # PixelShuffle -> DepthToSpace(mode=CRD) needs opset 11
INPUT_NAME, OUTPUT_NAME = "lq", "sr"
META_KEY = "srnas"  # metadata_props key holding {"scale", "srnas_config"} as JSON


@contextmanager
def _quiet(names: tuple[str, ...] = ("onnxscript", "onnx_ir", "torch.onnx")):
    """The exporter's graph passes log every rewrite at INFO: keep them to warnings while exporting."""
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _export_dynamo(model: nn.Module, example: torch.Tensor, opset: int) -> Any:
    dims = {0: "batch", 2: "height", 3: "width"}
    program = torch.onnx.export(model, (example,), None, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                                opset_version=opset, dynamo=True, dynamic_shapes=(dims,), external_data=False,
                                verbose=False, optimize=True)
    return program.model_proto


def _export_legacy(model: nn.Module, example: torch.Tensor, opset: int) -> Any:
    import onnx

    buf = io.BytesIO()
    axes = {INPUT_NAME: {0: "batch", 2: "height", 3: "width"}, OUTPUT_NAME: {0: "batch", 2: "sr_height", 3: "sr_width"}}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
        torch.onnx.export(model, (example,), buf, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                          opset_version=opset, dynamo=False, dynamic_axes=axes, do_constant_folding=True)
    return onnx.load_from_string(buf.getvalue())


def export_onnx(model: nn.Module, path: str | Path, example: torch.Tensor, opset: int = DEFAULT_OPSET,
                meta: Optional[dict[str, Any]] = None) -> str:
    """Export ``model`` to one self-contained ONNX file (written directly: callers pass a temporary file).

    Args:
        model: eval-mode network on CPU, ``(N, 3, H, W)`` float32 RGB in [0, 1] -> ``(N, 3, H*s, W*s)``.
        path: output file.
        example: ``(1, 3, h, w)`` input used to record the graph (sizes stay dynamic).
        opset: ONNX opset (>= 11; 18 by default).
        meta: JSON-able metadata stored in the model's ``metadata_props`` under ``srnas``.

    Returns:
        The exporter used: ``"dynamo"`` or ``"legacy"`` (TorchScript-based).
    """
    import onnx

    max_opset = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= opset <= max_opset:
        raise SrnasError(f"--opset: {opset} is outside the supported range {MIN_OPSET}..{max_opset}")
    exporter = "dynamo" if opset >= 18 else "legacy"
    with torch.no_grad(), _quiet():
        proto = _export_dynamo(model, example, opset) if exporter == "dynamo" else _export_legacy(model, example, opset)
    got = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    if got != opset:
        raise SrnasError(f"--opset: the exporter produced opset {got}, not the requested {opset}")
    for node in proto.graph.node:
        del node.metadata_props[:]  # dynamo debug info: stack traces with local file paths
    if meta:
        entry = proto.metadata_props.add()
        entry.key, entry.value = META_KEY, json.dumps(meta)
    onnx.checker.check_model(proto)
    onnx.save_model(proto, str(path), save_as_external_data=False)
    return exporter


class OnnxModel:
    """An ONNX file run by ONNX Runtime, called like a network: ``(N, 3, h, w)`` tensor -> ``(N, 3, h*s, w*s)``.

    Args:
        path: ``.onnx`` file with one input and one output.
        device: ``cuda`` uses the CUDA execution provider when onnxruntime has it; otherwise CPU.
    """

    def __init__(self, path: str | Path, device: torch.device | str = "cpu"):
        import onnxruntime as ort

        self.path = Path(path)
        providers = ["CPUExecutionProvider"]
        if torch.device(device).type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        opts = ort.SessionOptions()
        opts.log_severity_level = 4  # fatal only: a failed run raises with its message, no extra log lines
        try:
            self.session = ort.InferenceSession(str(self.path), sess_options=opts, providers=providers)
        except Exception as e:  # noqa: BLE001  onnxruntime raises its own exception types (Fail, InvalidGraph, ...)
            raise SrnasError(f"{self.path}: not a loadable ONNX model ({(str(e).splitlines() or [''])[0]})") from None
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise SrnasError(f"{self.path}: expected 1 input and 1 output, found {len(inputs)} and {len(outputs)}")
        self.input_name = inputs[0].name
        self._run_options = ort.RunOptions()
        self._run_options.log_severity_level = 4
        meta = self.session.get_modelmeta().custom_metadata_map.get(META_KEY)
        self.meta: dict[str, Any] = json.loads(meta) if meta else {}

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        arr = np.ascontiguousarray(x.detach().float().cpu().numpy())
        out = self.session.run(None, {self.input_name: arr}, self._run_options)[0]
        return torch.from_numpy(out).to(x.device)


def load_onnx(path: str | Path, device: torch.device | str = "cpu") -> OnnxModel:
    """:class:`OnnxModel` for ``path``."""
    if not Path(path).is_file():
        raise SrnasError(f"{path}: no such ONNX file")
    return OnnxModel(path, device)
