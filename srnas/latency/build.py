"""``build_table``: time every candidate op at each position's real shape and the fixed parts of one space's network
on this machine's runtime; ``measure_genotype``: time a whole derived network, exported as deployed (BN folded)."""
from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

import torch

from srnas.archs.genotype import Genotype
from srnas.archs.space import space_spec
from srnas.errors import SrnasError
from srnas.latency.fingerprint import check_fingerprint, fingerprint
from srnas.latency.parts import Fusion, Head, Tail, block_with, reference_genotype
from srnas.latency.runtime import OPSET, pinned, time_group
from srnas.latency.table import LatencyTable


def deployment_input(scale: int, input_hw: Optional[tuple[int, int]] = None) -> tuple[int, int]:
    """The LR input the table describes: ``input_hw`` or the LR of a 1280x720 output (x2: 360x640)."""
    from srnas.eval.profile import lr_input_hw

    return tuple(input_hw) if input_hw is not None else lr_input_hw(scale)


def check_input(space: str, input_hw: tuple[int, int]) -> None:
    """Refuse an LR input smaller than the space's networks run on (its spec's ``min_lq``; DLSR: 15, ESA)."""
    spec = space_spec(space)
    if min(input_hw) < spec.min_lq:
        why = f" ({spec.min_lq_why})" if spec.min_lq_why else ""
        raise SrnasError(f"--input: the {space} space needs at least {spec.min_lq} LR pixels per side{why}, got "
                         f"{input_hw[0]}x{input_hw[1]}")


def _derived(genotype: Genotype, scale: int) -> torch.nn.Module:
    """The deployed network of ``genotype``: random weights (latency does not depend on them), BN folded."""
    from srnas.archs import create_model
    from srnas.export.fold import compact

    torch.manual_seed(0)
    return compact(create_model(genotype=genotype, scale=scale))[0]


def measure_genotype(genotype: Genotype, scale: int, input_hw: tuple[int, int], provider: str = "cpu",
                     threads: int = 1, warmup: int = 1, repeats: int = 3, pin: bool = True) -> dict[str, float]:
    """End-to-end milliseconds of the derived network of ``genotype`` on ``(1, 3, *input_hw)``, exported to ONNX with
    BN folded and run by ONNX Runtime as deployed (see :func:`runtime.time_sessions`)."""
    return measure_genotypes({"g": genotype}, scale, input_hw, provider, threads, warmup, repeats, 1, pin)["g"]


def measure_genotypes(genotypes: dict[str, Genotype], scale: int, input_hw: tuple[int, int], provider: str = "cpu",
                      threads: int = 1, warmup: int = 1, repeats: int = 3, sessions: int = 1,
                      pin: bool = True) -> dict[str, dict]:
    """:func:`measure_genotype` of several networks, ``sessions`` ONNX Runtime sessions each, all interleaved (a
    change of load hits them alike): see :func:`measure_modules`."""
    for g in genotypes.values():
        check_input(g.space, input_hw)
    return measure_modules({n: _derived(g, scale) for n, g in genotypes.items()}, input_hw, provider, threads, warmup,
                           repeats, sessions, pin)


def measure_modules(modules: dict[str, torch.nn.Module], input_hw: tuple[int, int], provider: str = "cpu",
                    threads: int = 1, warmup: int = 1, repeats: int = 3, sessions: int = 1,
                    pin: bool = True) -> dict[str, dict]:
    """End-to-end milliseconds of deployable networks (BN already folded) on ``(1, 3, *input_hw)``, exported to ONNX
    and run by ONNX Runtime, ``sessions`` sessions each, all interleaved. Per name: the median of the session medians
    (``median``), the session medians (``sessions_ms``), the fastest run (``min``), the largest session p90 (``p90``),
    ``runs``."""
    from srnas.latency.runtime import feeds, session, time_sessions, to_onnx

    x = torch.rand(1, 3, *input_hw)
    runs = {}
    for name, module in modules.items():
        model = to_onnx(module, [x])
        for k in range(sessions):
            runs[(name, k)] = (session(model, provider, threads), feeds([x]))
    with pinned(threads, pin):
        times = time_sessions(runs, warmup, repeats)
    out = {}
    for name in modules:
        per = [times[(name, k)] for k in range(sessions)]
        out[name] = {"median": statistics.median(t["median"] for t in per), "sessions_ms": [t["median"] for t in per],
                     "min": min(t["min"] for t in per), "p90": max(t["p90"] for t in per),
                     "runs": sum(t["runs"] for t in per)}
    return out


def _fold(module: torch.nn.Module) -> torch.nn.Module:
    from srnas.export.fold import compact

    return compact(module)[0]


def build_table(space: str, scale: int = 2, num_feat: Optional[int] = None, num_block: Optional[int] = None,
                primitives: Optional[Sequence[str]] = None, input_hw: Optional[tuple[int, int]] = None,
                provider: str = "cpu", threads: int = 1, warmup: int = 2, repeats: int = 10, pin: bool = True,
                progress_factory: Optional[Callable] = None) -> LatencyTable:
    """Measure a latency table for ``space`` on this machine.

    Args:
        space: a registered search space (``imdn``, ``dlsr``).
        scale: SR factor of the networks.
        num_feat, num_block: the network shape (default: the space's, the papers': imdn 64 x 6, dlsr 48 x 6).
        primitives: candidates to time (default: the space's).
        input_hw: LR input (default: the LR of a 1280x720 output).
        provider: ``cpu`` (default), ``cuda`` or ``tensorrt`` (ONNX Runtime execution providers).
        threads: intra-op threads (1 by default; recorded in the fingerprint).
        warmup, repeats: discarded and timed runs per piece (median and p90 kept); the reference network is timed
            with ``max(5, repeats // 2)`` runs. Pieces whose differences the table uses are timed interleaved.
        pin: pin the process to ``threads`` cores while timing.
        progress_factory: ``tqdm``-like factory called with ``total=`` and ``desc=`` (a progress bar).

    Returns:
        The table (not yet saved).
    """
    from srnas.archs.ops import build_op

    try:
        spec = space_spec(space)
    except SrnasError as e:
        raise SrnasError(f"--space: {e}") from None
    num_feat = num_feat or spec.num_feat
    num_block = num_block or spec.num_block
    primitives = tuple(primitives or spec.primitives)
    hw = deployment_input(scale, input_hw)
    check_input(space, hw)
    fp = fingerprint(provider, threads, hw, OPSET)
    ref_g = reference_genotype(space, primitives, num_feat, num_block, scale)
    ref = _derived(ref_g, scale)
    ref_op, shapes = primitives[0], spec.slot_shapes(num_feat)
    feat = lambda c=num_feat: torch.rand(1, c, *hw)  # noqa: E731
    kw = dict(provider=provider, threads=threads, warmup=warmup, repeats=repeats)
    # groups timed interleaved (runtime.time_group): the pieces whose differences the table uses share a group
    groups: list[tuple[str, dict]] = []
    for ci, co in sorted(set(shapes)):  # each candidate alone at each real shape (the naive table, and the anchors)
        groups.append((f"ops {ci}->{co}", {f"op {op} {ci}->{co}": (_fold(build_op(op, ci, co)), [feat(ci)])
                                           for op in primitives}))
    # each candidate in context: a block with it at position j and the reference op elsewhere (nn-Meter: what a
    # runtime fuses and the layout changes around an op depend on its neighbours, so time it with them)
    for j in range(len(shapes)):
        variants = [[op if k == j else ref_op for k in range(len(shapes))] for op in primitives]
        groups.append((f"position {j + 1} in context", {f"p{j} block " + "/".join(ops): (
            block_with(space, num_feat, ops), [feat()]) for ops in variants}))
    parts = {"head": (Head(ref), [torch.rand(1, 3, *hw)]),
             "tail": (Tail(ref), [feat() for _ in range(num_block + 1)])}
    if spec.path_top_k:  # network-level connections: the input fusion of a cell fed by k = 2..num_block-1 cells
        for k in range(2, num_block):
            parts[f"fusion_{k}"] = (Fusion(_fold(spec.arch.input_fusion(k, num_feat))), [feat()] * k)
    groups.append(("fixed parts", parts))
    groups.append(("reference network", {"reference network": (ref, [torch.rand(1, 3, *hw)])}))
    bar = progress_factory(total=sum(len(g) for _, g in groups), desc=f"latency table {space}") \
        if progress_factory else None
    results: dict[str, dict] = {}
    t0 = time.perf_counter()
    with pinned(threads, pin):
        for name, pieces in groups:
            if bar is not None:
                bar.set_postfix_str(name)
            reps = max(5, repeats // 2) if name == "reference network" else repeats
            for key, stats in time_group(pieces, **dict(kw, repeats=reps)).items():
                results[key] = {k: round(v, 4) for k, v in stats.items()}
            if bar is not None:
                bar.update(len(pieces))
    if bar is not None:
        bar.close()
    return _assemble(space, scale, num_feat, num_block, primitives, fp, ref_g, shapes, results,
                     {"warmup": warmup, "repeats": repeats, "pinned": pin, "nice": _nice()},
                     time.perf_counter() - t0)


def _nice() -> Optional[int]:
    """This process's scheduling niceness (recorded: a measurement beside other jobs depends on it)."""
    import os

    return os.nice(0) if hasattr(os, "nice") else None


def _assemble(space: str, scale: int, num_feat: int, num_block: int, primitives: tuple[str, ...], fp: dict,
              ref_g: Genotype, shapes: list, results: dict, settings: dict, seconds: float) -> LatencyTable:
    """The table from the timings: entry(j, op) = the op timed alone at position j's shape (FBNet / ProxylessNAS),
    with its in-context time (isolated reference op at j + block with op at j - reference block) kept beside it;
    the block skeleton = reference block - its isolated reference ops; overhead = reference network - its
    prediction."""
    ref_op, n = primitives[0], len(shapes)
    ref_name = lambda j: f"p{j} block " + "/".join([ref_op] * n)  # noqa: E731
    anchors = [results[f"op {ref_op} {ci}->{co}"]["median"] for ci, co in shapes]
    positions = []
    for j, (ci, co) in enumerate(shapes):
        ops, ref_j = {}, results[ref_name(j)]["median"]  # the reference block of this position's group
        for op in primitives:
            ctx = results[f"p{j} block " + "/".join(op if k == j else ref_op for k in range(n))]
            ops[op] = dict(results[f"op {op} {ci}->{co}"],
                           in_context={"median": round(anchors[j] + ctx["median"] - ref_j, 4),
                                       "block_median": ctx["median"]})
        positions.append({"c_in": ci, "c_out": co, "ops": ops})
    ref_block = {k: statistics.median(results[ref_name(j)][k] for j in range(n)) for k in ("median", "p90")}
    skeleton = ref_block["median"] - sum(anchors)
    block = {"median": round(skeleton, 4), "p90": round(ref_block["p90"] - sum(anchors), 4),
             "reference_block": ref_block, "note": "block with reference ops minus their isolated entries"}
    fixed = {"head": results["head"], "block": block, "tail": results["tail"],
             **{k: v for k, v in results.items() if k.startswith("fusion_")}}
    table = LatencyTable(space, scale, num_feat, num_block, primitives, fp, positions, fixed, 0.0)
    additive = table.predict(ref_g)["additive_ms"]
    measured = results["reference network"]
    extra = {"reference": {"genotype": ref_g.to_dict(), "measured": measured, "additive_ms": round(additive, 4)},
             "settings": settings, "build_seconds": round(seconds, 1)}
    return LatencyTable(space, scale, num_feat, num_block, primitives, fp, positions, fixed,
                        round(measured["median"] - additive, 4), extra)


def load_checked(path: str | Path, provider: Optional[str] = None, threads: Optional[int] = None,
                 input_hw: Optional[tuple[int, int]] = None) -> LatencyTable:
    """Load a table and refuse it (one-line SrnasError) unless it was measured on this machine with these settings
    (each ``None`` setting: the table's own)."""
    from srnas.latency.runtime import PROVIDERS

    t = LatencyTable.load(path)
    fp = t.fingerprint
    by_name = {v: k for k, v in PROVIDERS.items()}
    here = fingerprint(provider or by_name.get(fp.get("provider"), "cpu"), threads or int(fp.get("threads", 1)),
                       input_hw or tuple(fp.get("input_hw", (0, 0))), OPSET)
    check_fingerprint(fp, here, str(path))
    return t
