"""The genotype file format: a searched (or hand-designed) network described by data alone.

JSON, versioned (``"format": "srnas-genotype", "version": 1``)::

    {
      "format": "srnas-genotype", "version": 1,
      "space": "dlsr",                  # a registered space (srnas.registry.SPACE_SPECS): "imdn" or "dlsr"
      "scale": 2,                       # scale it was searched/released at (a genotype builds at any scale)
      "num_feat": 48,                   # channel width C
      "num_block": 6,                   # IMD blocks (imdn) or cells (dlsr)
      "ops": ["conv_1x1", "sep_conv_7x7", "sep_conv_5x5"],   # one op per searchable position, shared by all
                                        # blocks; or a list of num_block such lists (per-block genotype)
      "connections": [[1, 2], [2, 3], [2, 4], [4, 5]],        # dlsr only: inputs of cells 3..num_block
      "primitives": [...],              # optional: candidate list in alpha column order
      "info": {...}                     # optional: free-form provenance (method, alphas, search time)
    }

DLSR network level (brief §1.3-1.4): cells 1 and 2 take the stem and cell 1; cell i >= 3 takes the cells listed in
``connections[i - 3]`` (1-based cell indices, each < i). The **order** of a list is the order of the concatenation,
which fixes the weights of the 1x1 fusion conv after it, so ``[2, 1]`` and ``[1, 2]`` are different networks. A list
of one cell feeds that cell directly (no fusion conv); ``"connections": null`` means a plain chain (RFDN).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from srnas.errors import SrnasError
from srnas.registry import SPACE_SPECS
from srnas.utils.files import atomic_write_text, parse_json, read_json

FORMAT = "srnas-genotype"
VERSION = 1
_KEYS = {"format", "version", "space", "scale", "num_feat", "num_block", "ops", "connections", "primitives", "info"}


@dataclass(frozen=True)
class Genotype:
    """A network of one of the search spaces. ``ops`` holds one tuple of op names per block (expanded form)."""

    space: str
    ops: tuple[tuple[str, ...], ...]
    num_feat: int
    num_block: int
    connections: Optional[tuple[tuple[int, ...], ...]] = None
    scale: Optional[int] = None
    primitives: Optional[tuple[str, ...]] = None
    info: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        validate(self)

    @classmethod
    def make(cls, space: str, ops: Sequence[Any], num_feat: int, num_block: int,
             connections: Optional[Sequence[Sequence[int]]] = None, **kw: Any) -> "Genotype":
        """Build from a shared op list (one name per position) or a per-block list of lists."""
        if ops and all(isinstance(o, str) for o in ops):
            rows = tuple(tuple(ops) for _ in range(num_block))
        else:
            rows = tuple(tuple(r) for r in ops)
        conns = None if connections is None else tuple(tuple(int(i) for i in c) for c in connections)
        prims = kw.pop("primitives", None)
        return cls(space=space, ops=rows, num_feat=int(num_feat), num_block=int(num_block), connections=conns,
                   primitives=None if prims is None else tuple(prims), **kw)

    @property
    def shared(self) -> bool:
        return all(r == self.ops[0] for r in self.ops)

    def to_dict(self) -> dict:
        d: dict[str, Any] = {"format": FORMAT, "version": VERSION, "space": self.space, "scale": self.scale,
                             "num_feat": self.num_feat, "num_block": self.num_block,
                             "ops": list(self.ops[0]) if self.shared else [list(r) for r in self.ops]}
        if SPACE_SPECS.get(self.space).path_top_k:
            d["connections"] = None if self.connections is None else [list(c) for c in self.connections]
        if self.primitives is not None:
            d["primitives"] = list(self.primitives)
        if self.info:
            d["info"] = self.info
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def save(self, path: str | Path) -> None:
        atomic_write_text(path, self.to_json() + "\n")

    @classmethod
    def from_dict(cls, d: Any, source: str = "genotype") -> "Genotype":
        if not isinstance(d, dict):
            raise SrnasError(f"{source}: a genotype must be a JSON object")
        if d.get("format", FORMAT) != FORMAT:
            raise SrnasError(f"{source}: format must be {FORMAT!r}, got {d.get('format')!r}")
        if d.get("version", VERSION) != VERSION:
            raise SrnasError(f"{source}: unsupported genotype version {d.get('version')!r} (this srnas reads {VERSION})")
        unknown = set(d) - _KEYS
        if unknown:
            raise SrnasError(f"{source}: unknown genotype key(s) {', '.join(sorted(unknown))}")
        for key in ("space", "ops", "num_feat", "num_block"):
            if key not in d:
                raise SrnasError(f"{source}: missing key {key!r}")
        try:
            return cls.make(d["space"], d["ops"], d["num_feat"], d["num_block"], d.get("connections"),
                            scale=d.get("scale"), primitives=d.get("primitives"), info=d.get("info") or {})
        except SrnasError as e:
            raise SrnasError(f"{source}: {e}") from None
        except (TypeError, ValueError) as e:
            raise SrnasError(f"{source}: malformed genotype ({e})") from None

    @classmethod
    def from_json(cls, text: str, source: str = "genotype") -> "Genotype":
        return cls.from_dict(parse_json(text, source), source)

    @classmethod
    def load(cls, path: str | Path) -> "Genotype":
        return cls.from_dict(read_json(path, "genotype file"), str(path))


def validate(g: Genotype) -> None:
    """Raise SrnasError (without the file name; callers prefix it) when ``g`` cannot describe a network."""
    if g.space not in SPACE_SPECS:
        raise SrnasError(f"space must be one of {sorted(SPACE_SPECS.keys())}, got {g.space!r}")
    spec = SPACE_SPECS.get(g.space)
    # IMDN splits C into C/4 distilled channels; DLSR only needs C/2 and C/4 >= 1 (its tiny model has C = 18)
    if not isinstance(g.num_feat, int) or g.num_feat < 4 or g.num_feat % spec.feat_multiple:
        what = f"a multiple of {spec.feat_multiple}" if spec.feat_multiple > 1 else "an integer"
        raise SrnasError(f"num_feat must be {what} >= 4 for the {g.space} space, got {g.num_feat!r}")
    if g.num_block < 1:
        raise SrnasError(f"num_block must be >= 1, got {g.num_block}")
    if g.scale is not None and (not isinstance(g.scale, int) or g.scale < 1):
        raise SrnasError(f"scale must be a positive integer, got {g.scale!r}")
    if len(g.ops) != g.num_block:
        raise SrnasError(f"ops lists {len(g.ops)} blocks, num_block is {g.num_block}")
    for b, row in enumerate(g.ops):
        if len(row) != spec.positions:
            raise SrnasError(f"ops of block {b + 1} has {len(row)} entries; the {g.space} space has "
                             f"{spec.positions} positions")
        for name in row:
            if name not in spec.ops:
                raise SrnasError(f"unknown op {name!r} for the {g.space} space; valid: {', '.join(spec.ops)}")
    if not spec.path_top_k:
        if g.connections is not None:
            with_paths = [n for n in SPACE_SPECS if SPACE_SPECS.get(n).path_top_k]
            raise SrnasError(f"connections apply to the {' and '.join(with_paths)} space only")
        return
    if g.connections is None:
        return
    if len(g.connections) != max(g.num_block - 2, 0):
        raise SrnasError(f"connections must list the inputs of cells 3..{g.num_block} "
                         f"({max(g.num_block - 2, 0)} lists), got {len(g.connections)}")
    for i, conn in enumerate(g.connections, start=3):
        if not conn or any(not (1 <= c < i) for c in conn) or len(set(conn)) != len(conn):
            raise SrnasError(f"connections of cell {i} must be distinct earlier cells in 1..{i - 1}, got {list(conn)}")


# ---- a searched genotype's decision record (info["decision"], srnas.search.decision) -------------------------------
def verdict_line(decision: Optional[Mapping[str, Any]]) -> str:
    """One sentence for a genotype's decision record (None: a genotype that no srnas search wrote)."""
    if decision is None:
        return "search decision: not recorded (not a genotype of an srnas search with decision diagnostics)"
    n, total = decision["num_decided"], decision["num_positions"]
    if decision["decided"]:
        return f"search decided at {n}/{total} positions"
    return (f"search NOT decided ({n}/{total} positions): the undecided positions' ops were not chosen by the data; "
            f"do not compare this genotype as a searched network")


def decision_flag(genotype_info: Optional[Mapping[str, Any]]) -> str:
    """Short flag for tables: ``decided``, ``NOT decided (n/N)``, or ``-`` when the genotype has no search record."""
    d = (genotype_info or {}).get("decision")
    if not d:
        return "-"
    return "decided" if d["decided"] else f"NOT decided ({d['num_decided']}/{d['num_positions']})"
