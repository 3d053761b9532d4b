"""Training-state checkpoints: atomic writes, the last K kept, exact resume, and the one safe checkpoint reader.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so it loads with
``torch.load(..., weights_only=True)``. Files are ``<dir>/iter_<step>.pth``; a failed or interrupted write never
leaves a file that :func:`find_latest` would take (see :mod:`srnas.utils.files`).
"""
from __future__ import annotations

import logging
import pickle
import random
import re
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from srnas.errors import SrnasError
from srnas.utils.files import atomic_write

_NAME = re.compile(r"^iter_(\d+)\.pth$")
log = logging.getLogger("srnas")


def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch (CPU and CUDA) global RNG states, as weights_only-loadable values."""
    py = random.getstate()
    np_state = np.random.get_state()
    state = {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    npst = state["numpy"]
    np.random.set_state((npst[0], npst[1].numpy().astype(np.uint32), *npst[2:]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch once, at the start of a run."""
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


def save_checkpoint(ckpt_dir: str | Path, step: int, state: dict[str, Any], keep: int = 3) -> Path:
    """Write ``state`` atomically to ``<ckpt_dir>/iter_<step>.pth`` and delete all but the newest ``keep``."""
    ckpt_dir = Path(ckpt_dir)
    path = ckpt_dir / f"iter_{step:08d}.pth"
    atomic_write(path, lambda f: torch.save(state, f))
    for old in list_checkpoints(ckpt_dir)[keep:]:
        old.unlink(missing_ok=True)
    return path


def list_checkpoints(ckpt_dir: str | Path) -> list[Path]:
    """Checkpoint files of a run, newest first."""
    ckpt_dir = Path(ckpt_dir)
    if not ckpt_dir.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in ckpt_dir.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found, reverse=True)]


def load_checkpoint(path: str | Path) -> Any:
    """``torch.load(path, map_location='cpu', weights_only=True)`` (never executes pickled code) with one-line
    SrnasErrors naming the file: missing, corrupt or truncated, or a pickle that needs code execution. The one
    checkpoint reader of srnas: training states here, weight files in :mod:`srnas.archs.weights`."""
    p = Path(path)
    if not p.is_file():
        raise SrnasError(f"{p}: checkpoint file not found")
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        msg = str(e)
        needs = re.search(r"Unsupported global: GLOBAL (\S+)", msg)
        if needs:
            raise SrnasError(f"{p}: refusing to load a checkpoint that needs code execution (it imports "
                             f"{needs.group(1)}; re-save its state_dict)") from None
        detail = re.search(r"WeightsUnpickler error:\s*(.+)", msg)
        detail = detail.group(1).strip() if detail else msg.splitlines()[0]
        raise SrnasError(f"{p}: refusing to load: corrupt, or needs code execution (weights-only unpickler: "
                         f"{detail})") from None
    except Exception as e:  # noqa: BLE001  torch.load fails on arbitrary bytes with many types (KeyError, ...)
        first = (str(e).splitlines() or [""])[0]
        raise SrnasError(f"{p}: not a readable torch checkpoint ({e.__class__.__name__}: {first})") from None


def find_latest(ckpt_dir: str | Path) -> Optional[tuple[Path, dict[str, Any]]]:
    """The newest checkpoint that loads; corrupt ones are skipped with a warning. None when there is none."""
    for path in list_checkpoints(ckpt_dir):
        try:
            return path, load_checkpoint(path)
        except SrnasError as e:
            log.warning("skipping %s", e)
    return None
