"""Did the search decide? Per-position statistics of the architecture weights and a verdict that accounts for noise.

A derived genotype is the per-row argmax of alpha (SA-DARTS Eq. 2). It means something only when the data moved
alpha: an argmax taken near uniform picks the op that the initial noise or the last batches happened to favour. For
every searchable position (a row of alpha; with per-block alphas, every block's row) this module reports

* ``op``, ``p1``: the top-1 op and its weight ``softmax(alpha)_top1``, and ``ratio = p1 * N_o`` (1 = uniform);
* ``margin``: ``p1 - p2`` (SA-DARTS Table 1);
* ``entropy``: ``H(softmax(alpha)) / log N_o`` (1 = uniform, 0 = one-hot);
* ``alpha_mean``, ``alpha_std``: the raw logits' mean and spread (SA drives the mean down, Fig. 3);
* ``gap``: ``alpha_top1 - alpha_top2 = log(p1 / p2)``, the logit gap the derivation rests on;

and a **decided** verdict. A position is decided at an evaluation when all three hold:

1. *stable*: the top-1 op is the same at the last ``window`` evaluations;
2. *above noise*: ``gap > z * noise`` with ``noise = max(sqrt(2) * init_std, fluctuation of the same two ops' gap
   over the last window evaluations)``. The alpha initialisation alone gives two ops a logit gap of standard deviation
   ``sqrt(2) * init_std`` (DARTS: ``1e-3 * randn``); the fluctuation is the gap's scatter around its own linear trend
   (the standard error of a least-squares line through the window), i.e. what minibatch noise does to it: a gap that
   grows steadily is signal, one that goes up and down is not;
3. *apart from uniform*: ``ratio >= min_ratio`` (default 1.5: the chosen op holds 1.5 times its uniform share).

The verdict of an undecided position names what to change, from the measured alpha-gradient norms (the loop records
the norm of the alpha gradient of L_val and of each penalty): when a penalty's gradient is much larger than L_val's,
Adam's per-coordinate normalisation turns the selective part of each alpha step into about ``lr * g_val / g_pen``
(method notes §1.4), so the fix is a smaller penalty coefficient, not a longer search.
"""
from __future__ import annotations

import itertools
import math
import re
from dataclasses import asdict, dataclass
from typing import Any, Mapping, Optional, Sequence

from srnas.archs.genotype import verdict_line

Matrix = Sequence[Sequence[float]]

SWAMP_RATIO = 3.0  # a penalty gradient this many times L_val's is called swamping in the advice


@dataclass(frozen=True)
class Criterion:
    """When a position counts as decided (see the module docstring)."""

    window: int = 3
    z: float = 3.0
    min_ratio: float = 1.5


def row_stats(probs: Sequence[float], logits: Optional[Sequence[float]] = None) -> dict[str, Any]:
    """Statistics of one position from its softmax weights (and raw logits for the mean/spread, when given)."""
    n = len(probs)
    order = sorted(range(n), key=lambda j: (-probs[j], j))
    i1, i2 = order[0], order[1]
    p1, p2 = probs[i1], probs[i2]
    entropy = -sum(p * math.log(p) for p in probs if p > 0) / math.log(n)
    out = {"top1": i1, "top2": i2, "p1": p1, "ratio": p1 * n, "margin": p1 - p2, "entropy": entropy,
           "gap": _log_ratio(p1, p2)}
    if logits is not None:
        mean = sum(logits) / n
        out["alpha_mean"] = mean
        out["alpha_std"] = math.sqrt(sum((a - mean) ** 2 for a in logits) / max(n - 1, 1))
    return out


def _log_ratio(a: float, b: float) -> float:
    tiny = 1e-300
    return math.log(max(a, tiny)) - math.log(max(b, tiny))


def fluctuation(values: Sequence[float]) -> float:
    """How much a sequence of evaluations scatters around its own trend: the standard error of a least-squares line
    through them (3 or more values; a steady rise or fall gives 0), ``|a - b| / sqrt(2)`` for two, 0 for one."""
    n = len(values)
    if n < 2:
        return 0.0
    if n == 2:
        return abs(values[0] - values[1]) / math.sqrt(2.0)
    ts = [t - (n - 1) / 2 for t in range(n)]
    mean = sum(values) / n
    slope = sum(t * v for t, v in zip(ts, values)) / sum(t * t for t in ts)
    resid = [v - mean - slope * t for t, v in zip(ts, values)]
    return math.sqrt(sum(r * r for r in resid) / (n - 2))


def assess(history: Sequence[Matrix], primitives: Sequence[str], init_std: float,
           criterion: Criterion = Criterion(), logits: Optional[Matrix] = None,
           grads: Optional[Mapping[str, float]] = None, labels: Optional[Sequence[str]] = None) -> dict[str, Any]:
    """The decision verdict at the last evaluation of ``history``.

    Args:
        history: softmax(alpha) at each evaluation so far, oldest first; each an ``(N_e, N_o)`` nested list (all
            op-alpha rows stacked). Only the last ``criterion.window`` entries are used.
        primitives: the ``N_o`` op names (column order).
        init_std: the std of the random part of the alpha initialisation (``search.alpha_init.std``).
        criterion: window, z and min_ratio.
        logits: the raw alpha rows at the last evaluation (for ``alpha_mean`` / ``alpha_std``).
        grads: mean alpha-gradient norms since the previous evaluation: ``{"val": ..., "<penalty>": ...}``.
        labels: one name per row (default ``position 1..N_e``).

    Returns:
        ``{"criterion", "decided", "num_decided", "num_positions", "grads", "positions": [...]}``; each position has
        its statistics, ``stable``, ``noise``, ``decided`` and, when undecided, ``reason`` and ``advice``.
    """
    if not history:
        raise ValueError("assess: empty history")
    recent = list(history)[-criterion.window:]
    last = recent[-1]
    labels = list(labels) if labels is not None else [f"position {i + 1}" for i in range(len(last))]
    swamp = _swamping(grads)
    positions = []
    for i, probs in enumerate(last):
        st = row_stats(probs, None if logits is None else logits[i])
        i1, i2 = st["top1"], st["top2"]
        tops = [row_stats(h[i])["top1"] for h in recent]
        gaps = [_log_ratio(h[i][i1], h[i][i2]) for h in recent]
        noise = max(math.sqrt(2.0) * init_std, fluctuation(gaps))
        stable = len(recent) >= criterion.window and all(t == i1 for t in tops)
        above = st["gap"] > criterion.z * noise
        apart = st["ratio"] >= criterion.min_ratio
        pos = {"label": labels[i], "op": primitives[i1], "runner_up": primitives[i2],
               **{k: v for k, v in st.items() if k not in ("top1", "top2")},
               "noise": noise, "stable": stable, "decided": bool(stable and above and apart)}
        if not pos["decided"]:
            pos["reason"] = _reason(st, noise, stable, above, apart, len(recent), criterion)
            pos["advice"] = _advice(stable, len(recent), criterion, swamp)
        positions.append(pos)
    n_dec = sum(p["decided"] for p in positions)
    return {"criterion": asdict(criterion), "decided": n_dec == len(positions), "num_decided": n_dec,
            "num_positions": len(positions), "grads": dict(grads) if grads else None, "positions": positions}


def _swamping(grads: Optional[Mapping[str, float]]) -> Optional[tuple[str, float]]:
    """The penalty whose alpha-gradient norm is the largest multiple of L_val's, when above SWAMP_RATIO."""
    if not grads or not grads.get("val"):
        return None
    ratios = {k: v / grads["val"] for k, v in grads.items() if k != "val"}
    if not ratios:
        return None
    name = max(ratios, key=ratios.get)
    return (name, ratios[name]) if ratios[name] > SWAMP_RATIO else None


def _reason(st: dict, noise: float, stable: bool, above: bool, apart: bool, n_evals: int,
            c: Criterion) -> str:
    parts = []
    if n_evals < c.window:
        parts.append(f"only {n_evals} evaluation(s), the criterion needs {c.window}")
    elif not stable:
        parts.append(f"the top-1 op changed within the last {c.window} evaluations")
    if not above:
        parts.append(f"logit gap {st['gap']:.3g} <= {c.z:g} x noise {noise:.3g}")
    if not apart:
        parts.append(f"top-1 weight {st['p1']:.4f} is {st['ratio']:.2f}x uniform (< {c.min_ratio:g}x)")
    return "; ".join(parts)


def _advice(stable: bool, n_evals: int, c: Criterion, swamp: Optional[tuple[str, float]]) -> str:
    if swamp is not None:
        name, ratio = swamp
        return (f"the {name} penalty's alpha gradient is {ratio:.0f}x L_val's, so under Adam it masks the data "
                f"(method notes 1.4): lower its coefficient ({name}: lambda_slope or lambda_const)"
                + (" or use GELU-SA (nu 0, mu 0.7071)" if name == "sa" else ""))
    if n_evals < c.window:
        return "evaluate more often (datasets.val.every) or search longer (search.iters)"
    if not stable:
        return "search longer (search.iters) or use larger batches (datasets.arch.batch_size)"
    return "alpha moves too little: raise optim_alpha.lr or search longer (search.iters)"


def summary_lines(decision: Mapping[str, Any]) -> list[str]:
    """One line per position, then the verdict (the search's last log lines; ``srnas report`` and the pipeline)."""
    lines = []
    for p in decision["positions"]:
        stats = f"p1 {p['p1']:.4f} ({p['ratio']:.2f}x uniform), gap {p['gap']:.3g} vs noise {p['noise']:.3g}"
        if p["decided"]:
            lines.append(f"{p['label']}: decided: {p['op']} ({stats})")
        else:
            lines.append(f"{p['label']}: NOT decided: {p['op']} ({stats}): {p['reason']}; {p['advice']}")
    lines.append(verdict_line(decision))
    return lines


def record_rows(record: Mapping[str, Any]) -> list[list[float]]:
    """softmax(alpha) of one ``alphas.jsonl`` record, all op-alpha rows stacked (one row per position)."""
    return [row for a in record["alphas"] for row in a]


def decision_of_records(records: Sequence[Mapping[str, Any]], primitives: Sequence[str], init_std: float = 1e-3,
                        criterion: Criterion = Criterion(), last_step: Optional[int] = None) -> Optional[dict]:
    """The verdict at the last of ``records`` (up to ``last_step``): its own ``decision`` when it has one, else
    computed from the records' softmax rows (searches whose genotype predates the record). None without records."""
    recs = [r for r in records if last_step is None or r["step"] <= last_step]
    if not recs:
        return None
    if recs[-1].get("decision"):
        return recs[-1]["decision"]
    return assess([record_rows(r) for r in recs], primitives, init_std, criterion)


def decision_from_records(path: "str | Path", primitives: Sequence[str], init_std: float = 1e-3,
                          criterion: Criterion = Criterion()) -> Optional[dict[str, Any]]:
    """:func:`decision_of_records` of a search's ``alphas.jsonl`` (None when the file is missing or empty).
    ``init_std``: the search's ``alpha_init.std`` (DARTS default 1e-3)."""
    import json
    from pathlib import Path

    p = Path(path)
    if not p.exists():
        return None
    recs = [json.loads(ln) for ln in p.read_text().splitlines() if ln.strip()]
    return decision_of_records(recs, primitives, init_std, criterion)


def seed_pairs(ops_by_run: dict[str, Sequence[str]]) -> dict[str, dict[str, int]]:
    """Seed agreement: runs named ``<setting>_s<seed>`` grouped by setting; per pair of seeds, the number of positions
    where they derive (or favour) the same op. ``{"setting": {"s0-s1": 3, ...}}``; a setting with one seed maps to {}."""
    groups: dict[str, dict[str, Sequence[str]]] = {}
    for name, ops in ops_by_run.items():
        m = re.fullmatch(r"(.+)_(s\d+)", name)
        setting, seed = (m.group(1), m.group(2)) if m else (name, "")
        groups.setdefault(setting, {})[seed] = ops
    return {setting: {f"{a}-{b}": sum(x == y for x, y in zip(runs[a], runs[b]))
                      for a, b in itertools.combinations(sorted(runs), 2)}
            for setting, runs in groups.items()}
