"""A small typed loader: a nested dict (from YAML) -> frozen dataclasses, with errors that name the key path.

Each option section is a frozen dataclass; a field's type annotation is the schema (int, float, bool, str,
``Optional[...]``, ``Literal[...]``, ``list[...]``/``tuple[...]``, nested dataclasses) and ``field(metadata=...)`` adds
bounds (``ge``, ``gt``, ``le``). An unknown key is reported with its path and the closest valid key. Everything raises
:class:`SrnasError` with ``<file>: <key.path>: <problem>``.
"""
from __future__ import annotations

import dataclasses
import difflib
import typing
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from srnas.errors import SrnasError

_NONE = type(None)


def bounded(default: Any = dataclasses.MISSING, *, ge: float | None = None, gt: float | None = None,
            le: float | None = None, doc: str = "", **kw: Any) -> Any:
    """A dataclass field with numeric bounds and a one-line description (shown in the option reference)."""
    meta = {"ge": ge, "gt": gt, "le": le, "doc": doc}
    if isinstance(default, (list, dict)):
        value = default
        return dataclasses.field(default_factory=lambda: value.copy(), metadata=meta, **kw)
    return dataclasses.field(default=default, metadata=meta, **kw)


def read_yaml(path: str | Path) -> dict:
    """Read an option file with ``yaml.safe_load``; SrnasError for a missing, unreadable or non-mapping file."""
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise SrnasError(f"{p}: option file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SrnasError(f"{p}: cannot read option file ({e.__class__.__name__})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise SrnasError(f"{p}: invalid YAML{where}: {getattr(e, 'problem', None) or e}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SrnasError(f"{p}: an option file must be a mapping of keys, got {type(data).__name__}")
    return data


def apply_overrides(data: dict, overrides: list[str], source: str = "--set") -> dict:
    """Apply ``key.path=value`` overrides (values parsed by ``yaml.safe_load``, never ``eval``)."""
    for item in overrides or []:
        if "=" not in item:
            raise SrnasError(f"{source}: expected key.path=value, got {item!r}")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            raise SrnasError(f"{source}: cannot parse the value of {key!r}: {raw!r}") from None
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[parts[-1]] = value
    return data


def build(cls: type, data: Any, path: str = "", source: str = "options") -> Any:
    """Build dataclass ``cls`` from ``data`` (a dict), validating every field recursively."""
    where = f"{source}: {path}" if path else source
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SrnasError(f"{where}: expected a mapping, got {_describe(data)}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    hints = typing.get_type_hints(cls)
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; valid keys: {', '.join(fields)}"
            raise SrnasError(f"{source}: unknown key {_join(path, key)!r}{hint}")
    values = {}
    for name, f in fields.items():
        sub = _join(path, name)
        if name in data:
            value = data[name]
            default = _default(f)
            if dataclasses.is_dataclass(default) and isinstance(value, dict):
                value = {**to_dict(default), **value}  # a partial section keeps the field's own defaults
            values[name] = _convert(hints[name], value, sub, source, f.metadata)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:  # type: ignore[misc]
            raise SrnasError(f"{source}: missing required key {sub!r}")
    try:
        obj = cls(**values)
    except SrnasError as e:  # __post_init__ messages start with the field name
        raise SrnasError(f"{source}: {path + '.' if path else ''}{e}") from None
    return obj


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return dataclasses.MISSING


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _describe(v: Any) -> str:
    return f"{type(v).__name__} {v!r}" if not isinstance(v, (dict, list)) else type(v).__name__


def _convert(tp: Any, value: Any, path: str, source: str, meta: Any = None) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    err = f"{source}: {path}"
    if origin is Union:
        if value is None and _NONE in args:
            return None
        rest = [a for a in args if a is not _NONE]
        errors = []
        for a in rest:
            try:
                return _convert(a, value, path, source, meta)
            except SrnasError as e:
                errors.append(str(e))
        raise SrnasError(errors[0] if len(rest) == 1 else f"{err}: {_describe(value)} matches none of the allowed forms")
    if origin is Literal:
        if value not in args:
            raise SrnasError(f"{err}: must be one of {', '.join(map(repr, args))}, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        return build(tp, value, path, source)
    if origin in (list, tuple):
        if isinstance(value, (str, dict)) or not isinstance(value, (list, tuple)):
            raise SrnasError(f"{err}: expected a list, got {_describe(value)}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise SrnasError(f"{err}: expected {len(args)} values, got {len(value)}")
            return tuple(_convert(a, v, f"{path}[{i}]", source) for i, (a, v) in enumerate(zip(args, value)))
        item = args[0] if args else Any
        return tuple(_convert(item, v, f"{path}[{i}]", source, meta) for i, v in enumerate(value))
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise SrnasError(f"{err}: expected a mapping, got {_describe(value)}")
        return dict(value)
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise SrnasError(f"{err}: expected true/false, got {_describe(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)  # YAML users write 1e5 for iteration counts
            else:
                raise SrnasError(f"{err}: expected an integer, got {_describe(value)}")
        return _check_bounds(value, err, meta)
    if tp is float:
        if isinstance(value, str):  # PyYAML reads 1e-3 (no dot) as a string: accept it as BasicSR users expect
            try:
                value = float(value)
            except ValueError:
                raise SrnasError(f"{err}: expected a number, got {_describe(value)}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SrnasError(f"{err}: expected a number, got {_describe(value)}")
        return _check_bounds(float(value), err, meta)
    if tp is str:
        if not isinstance(value, str):
            raise SrnasError(f"{err}: expected a string, got {_describe(value)}")
        return value
    raise TypeError(f"unsupported option type {tp!r} at {path}")


def _check_bounds(v: float, err: str, meta: Any) -> Any:
    if not meta:
        return v
    if meta.get("ge") is not None and v < meta["ge"]:
        raise SrnasError(f"{err}: must be >= {meta['ge']}, got {v}")
    if meta.get("gt") is not None and v <= meta["gt"]:
        raise SrnasError(f"{err}: must be > {meta['gt']}, got {v}")
    if meta.get("le") is not None and v > meta["le"]:
        raise SrnasError(f"{err}: must be <= {meta['le']}, got {v}")
    return v


def to_dict(obj: Any) -> Any:
    """A config dataclass back to plain YAML-able data (tuples become lists)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def reference(cls: type, indent: int = 0, instance: Any = None, prefix: str = "") -> list[str]:
    """A commented YAML reference of ``cls`` with defaults and docs (for ``srnas options``)."""
    lines = []
    hints = typing.get_type_hints(cls)
    pad = prefix + "  " * indent
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        doc = f.metadata.get("doc", "") if f.metadata else ""
        default = getattr(instance, f.name) if instance is not None else _default(f)
        inner = [a for a in typing.get_args(tp) if a is not _NONE] if typing.get_origin(tp) is Union else [tp]
        if len(inner) == 1 and dataclasses.is_dataclass(inner[0]):
            if default is None:  # an optional section, off by default
                lines.append(f"{pad}{f.name}: null  # optional{': ' + doc if doc else ''}; to enable:")
                lines += reference(inner[0], indent + 1, None, prefix=pad + "#")
                continue
            lines.append(f"{pad}{f.name}:{'  # ' + doc if doc else ''}")
            lines += reference(inner[0], indent + 1, default if dataclasses.is_dataclass(default) else None, prefix)
            continue
        shown = "<required>" if default is dataclasses.MISSING else \
            yaml.safe_dump(to_dict(default), default_flow_style=True).strip().removesuffix("...").strip()
        lines.append(f"{pad}{f.name}: {shown}{'  # ' + doc if doc else ''}")
    return lines
