"""Latency-constrained derivation: the most probable network under a search's softmax(alpha) whose latency lies
within a band around a target, by the latency table and, optionally, by timing candidates end to end on this machine.

Deviation (srnas' own step; README "Latency-aware search"): DARTS derives the per-row argmax (SA-DARTS Eq. 2), and
ProxylessNAS / FBNet rely on the penalty alone to bring it to the target. At CPU scale the argmax moves several
positions at once in 250-450 ms steps, so the target is crossed rather than met. Here the candidates are visited in
decreasing joint probability prod_rows softmax(alpha)_row[op] (the argmax first) and the first one in the band is
kept; with ``measure`` each candidate in the predicted band is timed on the deployment runtime, as MnasNet times its
sampled models on the phone, and kept only if its *measured* latency is in the band. The record says how far from the
argmax the kept network is (rank, probability ratio, positions changed), so an undecided search shows that latency,
not the data, chose.
"""
from __future__ import annotations

import heapq
import math
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional, Sequence

from srnas.archs.genotype import Genotype
from srnas.errors import SrnasError

if TYPE_CHECKING:
    from srnas.latency.table import LatencyTable


def ranked_assignments(logp: Sequence[Sequence[float]]) -> Iterator[tuple[float, tuple[int, ...]]]:
    """Every choice of one column per row, in decreasing total log-probability (ties: lexicographic order of ranks).

    Best-first over index tuples into each row's columns sorted by decreasing log-probability: a tuple's successors
    raise one coordinate at or after its last raised one, so each tuple has exactly one parent (lower the last
    non-zero coordinate), which is never less probable; each assignment is yielded once.
    """
    order = [sorted(range(len(r)), key=lambda j, r=r: (-r[j], j)) for r in logp]
    vals = [[r[j] for j in o] for r, o in zip(logp, order)]

    def total(ranks: tuple[int, ...]) -> float:
        return sum(v[k] for v, k in zip(vals, ranks))

    start = (0,) * len(vals)
    heap = [(-total(start), start)]
    while heap:
        neg, ranks = heapq.heappop(heap)
        yield -neg, tuple(o[k] for o, k in zip(order, ranks))
        last = max((i for i, k in enumerate(ranks) if k), default=0)
        for i in range(last, len(ranks)):
            if ranks[i] + 1 < len(vals[i]):
                nxt = ranks[:i] + (ranks[i] + 1,) + ranks[i + 1:]
                heapq.heappush(heap, (-total(nxt), nxt))


def _log_softmax(row: Sequence[float]) -> list[float]:
    m = max(row)
    lse = m + math.log(sum(math.exp(x - m) for x in row))
    return [x - lse for x in row]


def search_rows(g: Genotype) -> tuple[list[list[float]], bool]:
    """The log-probabilities of a searched genotype's final alphas (``info.alphas``, raw logits) as one row per
    position (shared alphas) or per block and position, and whether the rows are shared by the blocks."""
    alphas = (g.info or {}).get("alphas")
    prims = g.primitives
    if not alphas or prims is None:
        raise SrnasError("genotype: no searched alphas (info.alphas and primitives); give the genotype.json a search "
                         "wrote")
    try:
        rows = [[float(x) for x in row] for group in alphas for row in group]
    except (TypeError, ValueError):
        raise SrnasError("genotype: info.alphas is not a list of (rows x candidates) logit lists") from None
    per_pos = len(g.ops[0])
    if any(len(r) != len(prims) for r in rows) or len(rows) not in (per_pos, per_pos * g.num_block):
        raise SrnasError(f"genotype: info.alphas has {len(rows)} rows of {sorted({len(r) for r in rows})} columns; "
                         f"expected {per_pos} (shared) or {per_pos * g.num_block} rows of {len(prims)}")
    return [_log_softmax(r) for r in rows], len(rows) == per_pos


def _genotype(g: Genotype, cols: Sequence[int], shared: bool) -> Genotype:
    names = [g.primitives[c] for c in cols]
    per_pos = len(g.ops[0])
    ops = names if shared else [names[b * per_pos:(b + 1) * per_pos] for b in range(g.num_block)]
    return Genotype.make(g.space, ops, g.num_feat, g.num_block, g.connections, scale=g.scale,
                         primitives=g.primitives)


def additive_cost(g: Genotype, cost: Callable[[Genotype], float]) -> Callable[[Genotype], float]:
    """An exact predictor, for the networks of ``g``'s search, of a cost that is a sum over the ops plus a fixed part
    (Mult-Adds, params): ``cost(g)`` plus, for each row and op, the change of ``cost`` when that row alone takes that
    op (``rows x (ops - 1) + 1`` calls of ``cost``)."""
    rows, shared = search_rows(g)
    base_cols = [g.primitives.index(op) for op in (g.ops[0] if shared else [o for r in g.ops for o in r])]
    base = cost(g)
    delta = [[0.0 if c == base_cols[i] else cost(_genotype(g, [*base_cols[:i], c, *base_cols[i + 1:]], shared)) - base
              for c in range(len(g.primitives))] for i in range(len(rows))]

    def predict(cand: Genotype) -> float:
        names = cand.ops[0] if shared else [o for r in cand.ops for o in r]
        return base + sum(delta[i][cand.primitives.index(op)] for i, op in enumerate(names))

    return predict


def constrained_derive(g: Genotype, predict: Callable[[Genotype], float], target: float, tolerance: float = 0.1,
                       measure: Optional[Callable[[Genotype], dict[str, float]]] = None,
                       predicted_band: Optional[float] = None, max_measure: int = 12,
                       max_candidates: int = 1_000_000) -> tuple[Genotype, dict[str, Any]]:
    """The most probable network of searched genotype ``g`` whose cost is within ``tolerance`` of ``target``.

    ``predict`` gives a candidate's cost (a latency table's ``predict(...)["total_ms"]``, or :func:`additive_cost`
    of Mult-Adds). Without ``measure`` the band is judged on the prediction. With it, candidates whose prediction lies
    within ``predicted_band`` (default twice ``tolerance``: a latency table errs in-network) are timed in probability
    order, at most ``max_measure`` of them, and the first whose measured median is within ``tolerance`` is kept; when
    none is, the measured one nearest the target is returned with ``hit: false``.

    Returns ``(genotype, record)``; the genotype's ``info`` keeps the search's and adds ``constrained_derivation``.
    """
    if not target > 0 or not 0 < tolerance < 1:
        raise SrnasError(f"target must be > 0 and tolerance in (0, 1), got {target} and {tolerance}")
    rows, shared = search_rows(g)
    band = tolerance if measure is None else (predicted_band or 2 * tolerance)
    best_logp, argmax_cols = None, None
    tried: list[dict[str, Any]] = []
    chosen = nearest = None
    for n, (logp, cols) in enumerate(ranked_assignments(rows), 1):
        if best_logp is None:
            best_logp, argmax_cols = logp, cols
        if n > max_candidates or len(tried) >= (max_measure if measure else 1):
            break
        cand = _genotype(g, cols, shared)
        pred = predict(cand)
        if abs(pred / target - 1) > band:
            continue
        entry = {"rank": n, "ops": [list(r) for r in cand.ops] if not shared else list(cand.ops[0]),
                 "log_prob_gap": logp - best_logp, "predicted": pred, "cols": cols}
        if measure is not None:
            timed = measure(cand)
            entry["measured"] = timed["median"]
            entry.update({k: v for k, v in timed.items() if k in ("raw_ms", "reference_ms")})
        tried.append(entry)
        entry["off"] = entry.get("measured", pred) / target - 1
        if nearest is None or abs(entry["off"]) < abs(nearest[1]["off"]):
            nearest = (cand, entry)
        if abs(entry["off"]) <= tolerance:
            chosen = (cand, entry)
            break
    if nearest is None:
        raise SrnasError(f"no network of this search is predicted within {band:.0%} of the target {target:g} "
                         f"(searched {min(n, max_candidates)} candidates)")
    cand, entry = chosen or nearest
    changed = [i for i, (a, b) in enumerate(zip(argmax_cols, entry["cols"])) if a != b]
    record = {"target": target, "tolerance": tolerance, "by": "measured" if measure else "predicted",
              "hit": chosen is not None, "rank": entry["rank"], "log_prob_gap": entry["log_prob_gap"],
              "probability_ratio": math.exp(entry["log_prob_gap"]), "rows_changed": changed,
              "argmax_ops": [g.primitives[c] for c in argmax_cols],
              "argmax_predicted": predict(_genotype(g, argmax_cols, shared)), "predicted": entry["predicted"],
              "measured": entry.get("measured"),
              "tried": [{k: v for k, v in t.items() if k != "cols"} for t in tried]}
    info = {**(g.info or {}), "constrained_derivation": record}  # info.alphas stay: the search's, for a re-derivation
    return Genotype.make(cand.space, cand.ops if not shared else list(cand.ops[0]), cand.num_feat, cand.num_block,
                         cand.connections, scale=cand.scale, primitives=cand.primitives, info=info), record


def calibrate(ms: float, reference_now_ms: float, reference_table_ms: float) -> float:
    """A time measured now, scaled to the machine's speed when the table was built: the machine's speed drifts
    between processes (all networks alike), so scale by the reference network's time at the build over its time now."""
    return ms * reference_table_ms / reference_now_ms


def calibrated_timer(table: "LatencyTable", provider: str = "cpu", threads: int = 1, warmup: int = 1,
                     repeats: int = 5, pin: bool = True) -> Callable[[Genotype], dict[str, float]]:
    """A ``measure`` for :func:`constrained_derive` on a machine whose speed drifts (a shared VM): each candidate is
    timed interleaved with the table's reference network, and its median scaled by the reference's time when the
    table was built over its time now (``median``: calibrated; ``raw_ms``, ``reference_ms``: as timed)."""
    from srnas.latency.build import measure_genotypes

    ref, ref_ms = table.reference()
    hw = tuple(table.fingerprint["input_hw"])

    def measure(cand: Genotype) -> dict[str, float]:
        r = measure_genotypes({"cand": cand, "ref": ref}, table.scale, hw, provider, threads, warmup, repeats,
                              pin=pin)
        return {"median": calibrate(r["cand"]["median"], r["ref"]["median"], ref_ms), "raw_ms": r["cand"]["median"],
                "reference_ms": r["ref"]["median"]}

    return measure


def summary_line(record: dict[str, Any], decision: str, unit: str = "ms") -> str:
    """One line: what was kept, how it compares with the target, how far from the argmax, and the search's flag."""
    got = record["measured"] if record["measured"] is not None else record["predicted"]
    what = "measured" if record["measured"] is not None else "predicted"
    hit = "within" if record["hit"] else "NOT within"
    where = ("the argmax network itself" if not record["rows_changed"] else
             f"candidate {record['rank']} in probability, {len(record['rows_changed'])} row(s) changed from the "
             f"argmax, probability {record['probability_ratio']:.3f}x the argmax's")
    return (f"{what} {got:.4g} {unit}, {got / record['target'] - 1:+.1%} of the {record['target']:g} {unit} target "
            f"({hit} {record['tolerance']:.0%}); {where}; argmax predicted {record['argmax_predicted']:.4g} {unit}; "
            f"the search: {decision}")
