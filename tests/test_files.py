"""Atomic writes: the target appears whole or not at all, an old file survives a failed write, no temp file is left."""
import os
import stat

import pytest

from srnas.errors import SrnasError
from srnas.utils.files import atomic_path, atomic_write, atomic_write_text


def test_atomic_write_creates_the_file_with_the_usual_permissions(tmp_path):
    target = tmp_path / "sub" / "a.txt"
    atomic_write_text(target, "hello")
    assert target.read_text() == "hello"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    assert [p.name for p in target.parent.iterdir()] == ["a.txt"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "a.bin"
    target.write_bytes(b"old")

    def fail(f):
        f.write(b"half")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        atomic_write(target, fail)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]


def test_atomic_path_renames_only_on_a_clean_exit(tmp_path):
    target = tmp_path / "m.onnx"
    with pytest.raises(SrnasError, match="parity"):
        with atomic_path(target) as tmp:
            open(tmp, "wb").write(b"x")
            raise SrnasError("parity check failed")
    assert not target.exists() and list(tmp_path.iterdir()) == []
    with atomic_path(target) as tmp:
        open(tmp, "wb").write(b"model")
    assert target.read_bytes() == b"model" and [p.name for p in tmp_path.iterdir()] == ["m.onnx"]


def test_unwritable_folder_is_one_srnas_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SrnasError, match="cannot write"):
        atomic_write_text(blocker / "x.txt", "y")
