"""Experiment folders: ``<experiments_root>/<name>`` with the option file, logs, checkpoints and results.

A new run never overwrites an existing folder: the old one is renamed ``<name>_archived_<timestamp>`` (BasicSR's
behaviour); ``--resume`` reuses it instead.
"""
from __future__ import annotations

import logging
import shutil
import sys
import time
from pathlib import Path
from typing import Optional

import yaml

from srnas.errors import SrnasError
from srnas.utils.files import atomic_write_text

MIN_FREE_BYTES = 200 * 2 ** 20  # refuse to start a run with less free disk than this
REPO = Path(__file__).resolve().parents[2]


def resolve_path(p: str | Path) -> Path:
    """A path from an option file: as given if it exists (relative to the current directory), else relative to the
    repository (so shipped defaults like ``datasets/T91`` work from any directory)."""
    p = Path(p).expanduser()
    if p.is_absolute() or p.exists() or not (REPO / p).exists():
        return p
    return REPO / p


def prepare_experiment(root: str | Path, name: str, resume: bool, raw_options: Optional[dict] = None,
                       option_file: Optional[str | Path] = None) -> Path:
    """Create (or, with ``resume``, reuse) the run folder, check it is writable with enough free space, and copy the
    options into it with the command line on top (BasicSR ``copy_opt_file``)."""
    exp = Path(root) / name
    if resume:
        if not exp.is_dir():
            raise SrnasError(f"{exp}: nothing to resume (no such experiment folder)")
    elif exp.exists():
        archived = exp.with_name(f"{name}_archived_{time.strftime('%Y%m%d_%H%M%S')}")
        exp.rename(archived)
        logging.getLogger("srnas").warning("%s existed: moved to %s", exp, archived)
    try:
        exp.mkdir(parents=True, exist_ok=True)
        probe = exp / ".write_test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        raise SrnasError(f"{exp}: output folder is not writable ({e.strerror or e})") from None
    free = shutil.disk_usage(exp).free
    if free < MIN_FREE_BYTES:
        raise SrnasError(f"{exp}: only {free / 2 ** 20:.0f} MiB free on disk; need at least "
                         f"{MIN_FREE_BYTES / 2 ** 20:.0f} MiB for checkpoints")
    if raw_options is not None:
        header = f"# {' '.join(sys.argv)}\n# from {option_file}\n" if option_file else f"# {' '.join(sys.argv)}\n"
        stamp = time.strftime("%Y%m%d_%H%M%S")
        name_opt = "options.yml" if not (exp / "options.yml").exists() else f"options_resume_{stamp}.yml"
        atomic_write_text(exp / name_opt, header + yaml.safe_dump(raw_options, sort_keys=False))
    return exp


def add_file_logger(exp: Path, prefix: str) -> logging.Handler:
    """Also log to ``<exp>/<prefix>_<timestamp>.log``; returns the handler (remove it when done)."""
    handler = logging.FileHandler(exp / f"{prefix}_{time.strftime('%Y%m%d_%H%M%S')}.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s: %(message)s"))
    logging.getLogger("srnas").addHandler(handler)
    return handler
