"""Atomic file writes: a temporary file in the same folder, flushed and fsynced, then renamed over the target, so a
crash never leaves a half-written file that a later run would read. And the one JSON reader whose errors are one line
naming the file."""
from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from srnas.errors import SrnasError


@contextmanager
def atomic_path(path: str | Path) -> Iterator[str]:
    """A temporary file name beside ``path`` for writers that take a file name (ONNX, TorchScript): when the block
    ends cleanly the file is fsynced, given the usual permissions and renamed to ``path``; otherwise it is removed
    and ``path`` is untouched. OSErrors become one-line SrnasErrors naming ``path``."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    except OSError as e:
        raise SrnasError(f"{path}: cannot write ({e.strerror or e})") from None
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes the file owner-only; give it the usual permissions
        os.replace(tmp, path)
    except OSError as e:
        raise SrnasError(f"{path}: write failed ({e.strerror or e})") from None
    finally:
        _unlink(tmp)  # a no-op after the rename


def atomic_write(path: str | Path, write: Callable[[object], None], mode: str = "wb") -> None:
    """Call ``write(fileobj)`` on a temp file beside ``path``, fsync, then rename it to ``path``."""
    with atomic_path(path) as tmp, open(tmp, mode) as f:
        write(f)


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


def parse_json(text: str, source: str) -> Any:
    """``json.loads(text)``; invalid JSON is one SrnasError naming ``source`` and the line."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise SrnasError(f"{source}: not valid JSON ({e.msg}, line {e.lineno})") from None


def read_json(path: str | Path, what: str) -> Any:
    """The parsed JSON file ``path`` (a ``what``: "genotype file", "latency table"); an unreadable file or invalid
    JSON is one SrnasError naming the file."""
    p = Path(path)
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise SrnasError(f"{p}: cannot read {what} ({e.__class__.__name__})") from None
    return parse_json(text, str(p))
