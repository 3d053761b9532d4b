"""The latency table: per position and candidate, and per fixed part, the measured latency of one space's networks on
one machine and runtime; and the additive predictor built on it (FBNet / ProxylessNAS lookup tables).

JSON, versioned (``"format": "srnas-latency-table", "version": 1``)::

    {"space": "imdn", "scale": 2, "num_feat": 64, "num_block": 6, "primitives": [...],
     "fingerprint": {"cpu", "isa", "cores", "arch", "runtime", "provider", "threads", "input_hw", "opset"},
     "positions": [{"c_in": 64, "c_out": 64, "ops": {"conv3": {"median": ms, "p90": ms, "in_context": {...}}}}, ...],
     "fixed": {"head": {...}, "block": {...}, "tail": {...}, "fusion_2": {...}, ...},
     "overhead_ms": ms, "reference": {...}, "settings": {...}, "build_seconds": s}

Prediction of a genotype (milliseconds, medians): ``head + num_block * block + sum of its ops' entries + DLSR's fusion
convs + tail + overhead``. Op entries are the op timed alone at its position's real shape (FBNet, ProxylessNAS);
``in_context`` keeps its time inside a block of reference ops (``srnas.latency.parts``), an alternative the validation
report compares; ``overhead`` is the per-network constant the sum misses on the reference network (measured end to
end at build time).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import torch
from torch import Tensor

from srnas.archs.genotype import Genotype
from srnas.archs.space import space_spec
from srnas.errors import SrnasError
from srnas.registry import SPACE_SPECS
from srnas.utils.files import atomic_write_text, read_json

FORMAT, VERSION = "srnas-latency-table", 1
_KEYS = {"format", "version", "space", "scale", "num_feat", "num_block", "primitives", "fingerprint", "positions",
         "fixed", "overhead_ms", "reference", "settings", "build_seconds", "parts_info"}


@dataclass(frozen=True)
class LatencyTable:
    space: str
    scale: int
    num_feat: int
    num_block: int
    primitives: tuple[str, ...]
    fingerprint: dict
    positions: list  # [{"c_in", "c_out", "ops": {name: stats}}]
    fixed: dict  # name -> stats
    overhead_ms: float = 0.0
    extra: dict = field(default_factory=dict, compare=False)  # reference, settings, build_seconds, parts_info

    # ---- prediction ---------------------------------------------------------------------------------------------
    def op_ms(self, position: int, op: str) -> float:
        return float(self.positions[position]["ops"][op]["median"])

    def fixed_ms(self, connections: Optional[Sequence[Sequence[int]]] = None) -> float:
        """Head, the block skeletons, DLSR's fusion convs of ``connections`` and the tail (no overhead)."""
        t = self.fixed["head"]["median"] + self.num_block * self.fixed["block"]["median"] + self.fixed["tail"]["median"]
        for conn in connections or ():
            if len(conn) > 1:
                t += self.fixed[f"fusion_{len(conn)}"]["median"]
        return float(t)

    def check_genotype(self, g: Genotype, source: str = "genotype") -> None:
        if (g.space, g.num_feat, g.num_block) != (self.space, self.num_feat, self.num_block):
            raise SrnasError(f"{source}: describes {g.space} with {g.num_feat} channels and {g.num_block} blocks; the "
                             f"latency table describes {self.space} with {self.num_feat} and {self.num_block}")
        unknown = sorted({op for row in g.ops for op in row} - set(self.primitives))
        if unknown:
            raise SrnasError(f"{source}: op(s) {', '.join(unknown)} not in the latency table "
                             f"({', '.join(self.primitives)})")
        for conn in g.connections or ():
            if len(conn) > 1 and f"fusion_{len(conn)}" not in self.fixed:
                raise SrnasError(f"{source}: a cell fed by {len(conn)} cells; the table has no fusion_{len(conn)}")

    def predict(self, g: Genotype, source: str = "genotype") -> dict[str, float]:
        """Predicted milliseconds of the derived network of ``g`` at the table's input: ``total`` and its parts."""
        self.check_genotype(g, source)
        ops = sum(self.op_ms(j, op) for row in g.ops for j, op in enumerate(row))
        fixed = self.fixed_ms(g.connections)
        return {"total_ms": ops + fixed + self.overhead_ms, "additive_ms": ops + fixed, "ops_ms": ops,
                "fixed_ms": fixed, "overhead_ms": self.overhead_ms}

    def predict_in_context(self, g: Genotype) -> float:
        """The additive prediction (ms, no overhead) from the ops' in-context times (``in_context`` entries: the op
        inside a block of reference ops), for comparison with the ops timed alone."""
        self.check_genotype(g)
        ops = sum(float(self.positions[j]["ops"][op].get("in_context", self.positions[j]["ops"][op])["median"])
                  for row in g.ops for j, op in enumerate(row))
        return ops + self.fixed_ms(g.connections)

    def reference(self, source: str = "latency table") -> tuple[Genotype, float]:
        """The network timed whole when the table was built, and its median ms: what calibrates later timings on a
        machine whose speed drifts (``srnas latency derive --measure``)."""
        ref = self.extra.get("reference")
        try:
            return Genotype.from_dict(ref["genotype"], f"{source}: reference"), float(ref["measured"]["median"])
        except (TypeError, KeyError, ValueError):
            raise SrnasError(f"{source}: no reference network (reference.genotype, reference.measured.median); "
                             "rebuild it with `srnas latency build`") from None

    # ---- costs of a supernet (the search penalty) -----------------------------------------------------------------
    def costs_for(self, primitives: Sequence[str], per_block: bool, num_feat: int, num_block: int, space: str,
                  source: str = "latency table") -> tuple[Tensor, float]:
        """``(costs, fixed_ms)`` for a supernet: costs are the op medians (ms) in alpha column order, one row per row
        of the stacked op alphas (shared alphas: each row stands for ``num_block`` blocks, so it is multiplied by
        ``num_block``); ``fixed_ms`` is everything else of the derived network (with network-level connections, the
        space's top-k chain: DLSR top-2 inputs, one 2-input fusion per cell from the third). Partial channels (SAC)
        do not change it: the derived network is full width.
        """
        if (space, num_feat, num_block) != (self.space, self.num_feat, self.num_block):
            raise SrnasError(f"{source}: the table describes {self.space} with {self.num_feat} channels and "
                             f"{self.num_block} blocks, the supernet is {space} with {num_feat} and {num_block}")
        missing = [p for p in primitives if p not in self.primitives]
        if missing:
            raise SrnasError(f"{source}: candidate(s) {', '.join(missing)} of the supernet are not in the table")
        rows = torch.tensor([[self.op_ms(j, p) for p in primitives] for j in range(len(self.positions))],
                            dtype=torch.float64)
        costs = rows.repeat(num_block, 1) if per_block else rows * num_block
        conns = space_spec(space).chain_connections(num_block)
        return costs.float(), self.fixed_ms(conns) + self.overhead_ms

    # ---- file ---------------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "space": self.space, "scale": self.scale,
                "num_feat": self.num_feat, "num_block": self.num_block, "primitives": list(self.primitives),
                "fingerprint": self.fingerprint, "positions": self.positions, "fixed": self.fixed,
                "overhead_ms": self.overhead_ms, **self.extra}

    def save(self, path: str | Path) -> None:

        atomic_write_text(path, json.dumps(self.to_dict(), indent=1) + "\n")

    @classmethod
    def from_dict(cls, d: Any, source: str) -> "LatencyTable":
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise SrnasError(f"{source}: not a latency table (format must be {FORMAT!r})")
        if d.get("version") != VERSION:
            raise SrnasError(f"{source}: unsupported latency table version {d.get('version')!r} (this srnas reads "
                             f"{VERSION})")
        unknown = set(d) - _KEYS
        if unknown:
            raise SrnasError(f"{source}: unknown latency table key(s) {', '.join(sorted(unknown))}")
        try:
            t = cls(space=str(d["space"]), scale=int(d["scale"]), num_feat=int(d["num_feat"]),
                    num_block=int(d["num_block"]), primitives=tuple(str(p) for p in d["primitives"]),
                    fingerprint=dict(d["fingerprint"]), positions=list(d["positions"]), fixed=dict(d["fixed"]),
                    overhead_ms=float(d.get("overhead_ms", 0.0)),
                    extra={k: d[k] for k in ("reference", "settings", "build_seconds", "parts_info") if k in d})
            _validate(t)
        except KeyError as e:
            raise SrnasError(f"{source}: missing latency table key {e.args[0]!r}") from None
        except (TypeError, ValueError, AttributeError) as e:
            raise SrnasError(f"{source}: malformed latency table ({e})") from None
        return t

    @classmethod
    def load(cls, path: str | Path) -> "LatencyTable":
        return cls.from_dict(read_json(path, "latency table"), str(path))


def _ms(stats: Any, where: str) -> None:
    v = stats["median"] if isinstance(stats, dict) else None
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
        raise ValueError(f"{where}.median must be a finite number of milliseconds")


def _validate(t: LatencyTable) -> None:
    if t.space not in SPACE_SPECS:
        raise ValueError(f"space must be {' or '.join(SPACE_SPECS.keys())}, got {t.space!r}")
    if len(t.positions) != space_spec(t.space).positions:
        raise ValueError(f"{len(t.positions)} positions for the {t.space} space")
    for j, pos in enumerate(t.positions):
        for p in t.primitives:
            if p not in pos["ops"]:
                raise ValueError(f"positions[{j}] has no entry for {p!r}")
            _ms(pos["ops"][p], f"positions[{j}].ops.{p}")  # may be < 0: an in-context entry is a difference
    for key in ("head", "block", "tail"):
        if key not in t.fixed:
            raise ValueError(f"fixed has no {key!r}")
    for key, stats in t.fixed.items():
        _ms(stats, f"fixed.{key}")
    for key in ("cpu", "runtime", "provider", "threads", "input_hw"):
        if key not in t.fingerprint:
            raise ValueError(f"fingerprint has no {key!r}")
    if not math.isfinite(t.overhead_ms):
        raise ValueError("overhead_ms must be finite")
