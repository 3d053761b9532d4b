"""Option files run by another command (``srnas study``, ``srnas pipeline``): a search or train file, its ``--set``
overrides, then the caller's patches (experiment name and folder, device, seed, network), built into typed options.

The one place where such a file is read and patched as raw YAML; the caller gets typed options (and the merged dict
that the run copies to its ``options.yml``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, TypeVar

from srnas.config.schema import apply_overrides, bounded, build, read_yaml
from srnas.errors import SrnasError
from srnas.utils.experiment import resolve_path

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class OptionFile:
    """A stage of another command: an option file and overrides for it."""

    opt: str = bounded(doc="the stage's own option file (options/search/*.yml, options/train/*.yml)")
    set: tuple[str, ...] = bounded([], doc="overrides for it, as --set key.path=value")


def _put(data: dict, key: str, value: Any) -> None:
    """Set dotted ``key`` of ``data`` to ``value`` as is (sections that are missing or not mappings become {})."""
    *parents, last = key.split(".")
    for part in parents:
        if not isinstance(data.get(part), dict):
            data[part] = {}
        data = data[part]
    data[last] = value


def load_patched(cls: type[T], opt_file: str | Path, sets: Sequence[str] = (), *, name: str,
                 experiments_root: str | Path, device: Optional[str] = None, seed: Optional[int] = None,
                 scale: Optional[int] = None, network_g: Optional[dict] = None,
                 patch: Optional[Mapping[str, Any]] = None, require: Optional[Mapping[str, Any]] = None,
                 why: str = "", source: Optional[str] = None) -> tuple[T, dict]:
    """Read ``opt_file``, apply ``sets``, then the patches, and build ``cls`` (SearchOptions, TrainOptions).

    Args:
        cls: the options dataclass.
        opt_file: the option file (a relative path that is not found is taken from the repository).
        sets: ``key.path=value`` overrides, applied first.
        name, experiments_root: the run goes to ``<experiments_root>/<name>``.
        device: overrides ``device`` (None: the file's); seed: ``manual_seed``; scale: ``scale``.
        network_g: replaces the whole ``network_g`` section (e.g. ``{"genotype": path}``).
        patch: more ``{dotted key: value}`` patches, set as is (e.g. ``{"network_g.num_block": 6}``).
        require: ``{dotted key: value}`` the file must hold after ``sets``, else
            ``SrnasError("<opt_file>: <key> must be <value><why>")``.
        source: the name in error messages; default: the resolved path.

    Returns:
        The typed options and the merged dict (keys in the file's order, patched keys appended when new).
    """
    path = resolve_path(opt_file)
    source = source or str(path)
    raw = apply_overrides(read_yaml(path), list(sets), source=source)
    for key, want in (require or {}).items():
        node: Any = raw
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node != want:
            raise SrnasError(f"{opt_file}: {key} must be {want!r}{why}")
    patches: dict[str, Any] = {"name": name}
    if scale is not None:
        patches["scale"] = scale
    if seed is not None:
        patches["manual_seed"] = seed
    if network_g is not None:
        patches["network_g"] = network_g
    patches.update(patch or {})
    patches["path.experiments_root"] = str(experiments_root)
    if device is not None:
        patches["device"] = device
    for key, value in patches.items():
        _put(raw, key, value)
    return build(cls, raw, source=source), raw
