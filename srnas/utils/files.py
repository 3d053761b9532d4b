"""Atomic file writes: a temporary file in the same folder, flushed and fsynced, then renamed over the target, so a
crash never leaves a half-written file that a later run would read."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

from srnas.errors import SrnasError


def atomic_write(path: str | Path, write: Callable[[object], None], mode: str = "wb") -> None:
    """Call ``write(fileobj)`` on a temp file beside ``path``, fsync, then rename it to ``path``."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise SrnasError(f"{path}: cannot write ({e.strerror or e})") from None
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes the file owner-only; give it the usual permissions
        os.replace(tmp, path)
    except OSError as e:
        _unlink(tmp)
        raise SrnasError(f"{path}: write failed ({e.strerror or e})") from None
    except BaseException:
        _unlink(tmp)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text), mode="w")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _unlink(p: str) -> None:
    try:
        os.unlink(p)
    except OSError:
        pass
