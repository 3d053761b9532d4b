"""TorchScript export by tracing, and loading TorchScript files back.

srnas networks are plain feed-forward graphs (no data-dependent control flow), so ``torch.jit.trace`` records them
completely. Sizes stay symbolic in the trace: ``x.size(2)`` in DLSR's ESA (``F.interpolate(size=...)``) and
PixelShuffle are recorded as shape ops, not constants (checked by the parity run at two sizes other than the traced
one, ``export/parity.py``). ``torch.jit.script`` is not an option: the networks pick their blocks with ``getattr``.
"""
from __future__ import annotations

import json
import warnings
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn

from srnas.errors import SrnasError

META_FILE = "srnas.json"  # extra file inside the archive: {"scale", "srnas_config"}


@contextmanager
def _no_deprecation_warning():
    # torch 2.9+ flags torch.jit as deprecated; TorchScript is still what the C++ and mobile runtimes load
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.\w+.* is deprecated", category=FutureWarning)
        yield


def export_torchscript(model: nn.Module, path: str | Path, example: torch.Tensor,
                       meta: Optional[dict[str, Any]] = None) -> None:
    """Trace ``model`` on ``example`` and save it to ``path`` (written directly: callers pass a temporary file).

    Args:
        model: eval-mode network on CPU, ``(N, 3, H, W)`` in [0, 1] -> ``(N, 3, H*s, W*s)``.
        path: output file.
        example: ``(1, 3, h, w)`` float32 input used for tracing.
        meta: JSON-able metadata stored as the extra file ``srnas.json``.
    """
    with _no_deprecation_warning():
        with torch.no_grad():
            traced = torch.jit.trace(model, example, check_trace=False)
        extra = {META_FILE: json.dumps(meta or {})}
        torch.jit.save(traced, str(path), _extra_files=extra)


def is_torchscript_file(path: str | Path) -> bool:
    """True for a TorchScript archive (a zip with ``constants.pkl`` and ``code/``), False for a torch.save checkpoint
    or anything else."""
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (OSError, zipfile.BadZipFile):
        return False
    return any(n.endswith("/constants.pkl") for n in names) and any("/code/" in n for n in names)


def load_torchscript(path: str | Path, device: torch.device | str = "cpu") -> torch.jit.ScriptModule:
    """``torch.jit.load`` in eval mode on ``device`` (SrnasError naming the file if it is not TorchScript)."""
    if not is_torchscript_file(path):
        raise SrnasError(f"{path}: not a TorchScript file")
    try:
        with _no_deprecation_warning():
            module = torch.jit.load(str(path), map_location=device)
    except (RuntimeError, OSError) as e:
        raise SrnasError(f"{path}: cannot load TorchScript ({(str(e).splitlines() or [''])[0]})") from None
    return module.eval()


def read_meta(path: str | Path) -> dict[str, Any]:
    """The ``srnas.json`` metadata of a file written by :func:`export_torchscript` ({} if absent)."""
    extra = {META_FILE: ""}
    with _no_deprecation_warning():
        torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    return json.loads(extra[META_FILE]) if extra[META_FILE] else {}
