"""Latency table vs measurement: predicted and measured end-to-end latency of random genotypes of one search space,
on this machine's ONNX Runtime. Writes ``experiments/reports/latency_validation_<space>.{md,json,png}``; finished
genotypes are kept in ``experiments/latency/validation_<space>.jsonl`` (skip-if-done), so a stopped run continues.

    .venv/bin/python benchmarks/latency_validation.py --space imdn [--n 50] [--seed 0] [--threads 1]
        [--table experiments/latency/imdn_x2_cpu1t.json] [--beside "what else ran on the machine"]

* The table is ``srnas latency build``'s (``srnas.latency.build.build_table``), built here when missing; a table of
  another machine or settings is refused.
* The genotypes are ``srnas sample``'s (``srnas.study.sample.sample_genotypes``: uniform over the space, the
  paper's width and depth); each derived network is exported with BN folded and timed end to end as ``srnas latency
  measure`` does (``measure_genotype``: median of ``--repeats`` runs after one warm-up).
* Metrics (nn-Meter's): the share of networks predicted within +-10 % of the measured median (goal 90 %) and Kendall's
  tau between predicted and measured (goal 0.9), for four predictors: the ops timed alone and summed, the same plus
  the per-network overhead measured on the reference network at build time (the table's model), and both again with
  the ops timed in context (inside a block of reference ops). Predictions are recomputed from the current table every
  run; the measurements are kept.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from srnas.archs.genotype import Genotype  # noqa: E402
from srnas.latency.build import build_table, deployment_input, load_checked, measure_genotype  # noqa: E402
from srnas.registry import SPACE_SPECS  # noqa: E402
from srnas.study.sample import sample_genotypes  # noqa: E402
from srnas.utils.files import atomic_write_text  # noqa: E402

GOAL_SHARE, GOAL_TAU = 0.90, 0.90


def metrics(pred: list[float], meas: list[float]) -> dict:
    from scipy.stats import kendalltau

    err = [p / m - 1 for p, m in zip(pred, meas)]
    tau = kendalltau(pred, meas)
    return {"within_10pct": sum(abs(e) <= 0.10 for e in err) / len(err),
            "within_5pct": sum(abs(e) <= 0.05 for e in err) / len(err),
            "kendall_tau": float(tau.statistic), "mape": sum(abs(e) for e in err) / len(err),
            "mean_error": sum(err) / len(err), "max_abs_error": max(abs(e) for e in err), "n": len(err)}


def plot(rows: list[dict], out: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    meas = [r["measured"]["median"] / 1e3 for r in rows]
    fig, ax = plt.subplots(figsize=(5, 4.6))
    ax.scatter(meas, [r["predicted"]["in_context_ms"] / 1e3 for r in rows], s=14, marker="x", c="0.6",
               label="ops timed in context, summed")
    ax.scatter(meas, [r["predicted"]["total_ms"] / 1e3 for r in rows], s=16,
               label="table model (ops alone + overhead)")
    lo, hi = min(meas) * 0.85, max(meas) * 1.15
    ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
    ax.fill_between([lo, hi], [lo * 0.9, hi * 0.9], [lo * 1.1, hi * 1.1], color="g", alpha=0.12, label="+-10 %")
    ax.set_xlabel("measured latency (s)")
    ax.set_ylabel("predicted latency (s)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=130)
    plt.close(fig)


def twin_gap(table, key: str) -> float:
    """Mean |difference| (ms) between the entries of candidates that are the same graph once BN is folded."""
    gaps = []
    for pos in table.positions:
        for op, v in pos["ops"].items():
            twin = pos["ops"].get(f"{op}_bn")
            if twin is not None:
                a, b = (v, twin) if key == "median" else (v[key], twin[key])
                gaps.append(abs(a["median"] - b["median"]))
    return sum(gaps) / len(gaps) if gaps else float("nan")


def verdict(m: dict) -> str:
    share = "meets" if m["within_10pct"] >= GOAL_SHARE else "misses"
    tau = "meets" if m["kendall_tau"] >= GOAL_TAU else "misses"
    return (f"{m['within_10pct']:.0%} within +-10 % ({share} the {GOAL_SHARE:.0%} goal), Kendall tau "
            f"{m['kendall_tau']:.3f} ({tau} the {GOAL_TAU} goal), mean |error| {m['mape']:.1%}, mean signed error "
            f"{m['mean_error']:+.1%}, largest |error| {m['max_abs_error']:.1%}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", required=True, choices=SPACE_SPECS.keys())
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--table", help="default: experiments/latency/<space>_x<scale>_cpu<threads>t.json")
    ap.add_argument("--reference-every", type=int, default=10,
                    help="re-measure the table's reference network every N genotypes (the noise floor)")
    ap.add_argument("--beside", default="", help="what else ran on the machine during the measurements (reported)")
    ap.add_argument("--out", default=str(REPO / "experiments" / "reports"))
    args = ap.parse_args()
    work = REPO / "experiments" / "latency"
    table_path = Path(args.table or work / f"{args.space}_x{args.scale}_cpu{args.threads}t.json")
    hw = deployment_input(args.scale)
    load_before = os.getloadavg()
    t0 = time.time()
    if table_path.exists():
        table = load_checked(table_path, "cpu", args.threads, hw)
    else:
        table = build_table(args.space, args.scale, threads=args.threads)
        table.save(table_path)
    print(f"table {table_path}: built in {table.extra.get('build_seconds')} s", flush=True)
    done_file = work / f"validation_{args.space}.jsonl"
    done, refs = {}, []
    if done_file.exists():
        for line in done_file.read_text().splitlines():
            r = json.loads(line)
            if r.get("kind") == "reference":
                refs.append(r)
                continue
            done[json.dumps(r["genotype"]["ops"]) + json.dumps(r["genotype"].get("connections"))] = r
    rows = []
    ref_g, ref_build_ms = table.reference(str(table_path))
    for i, g in enumerate(sample_genotypes(args.space, args.n, args.seed, scale=args.scale)):
        if i % args.reference_every == 0 and len(refs) <= i // args.reference_every:
            # the noise floor: the same (reference) network re-measured through the run
            ref_meas = measure_genotype(ref_g, args.scale, hw, threads=args.threads, repeats=args.repeats)
            refs.append({"kind": "reference", "measured": ref_meas, "time": time.strftime("%H:%M:%S")})
            with open(done_file, "a") as f:
                f.write(json.dumps(refs[-1]) + "\n")
        key = json.dumps(list(g.ops[0])) + json.dumps(
            None if g.connections is None else [list(c) for c in g.connections])
        if key in done:
            rows.append(done[key])
            continue
        meas = measure_genotype(g, args.scale, hw, threads=args.threads, repeats=args.repeats)
        row = {"index": i, "genotype": g.to_dict(), "predicted": table.predict(g), "measured": meas,
               "params": g.info.get("params"), "time": time.strftime("%H:%M:%S"), "load_avg": os.getloadavg(),
               "nice": os.nice(0)}
        with open(done_file, "a") as f:
            f.write(json.dumps(row) + "\n")
        rows.append(row)
        print(f"{i:3d} {list(g.ops[0])} measured {meas['median']:.0f} ms predicted {row['predicted']['total_ms']:.0f} "
              f"ms ({row['predicted']['total_ms'] / meas['median'] - 1:+.1%})", flush=True)
    for r in rows:  # predictions always from the current table (the measurements do not depend on it)
        g = Genotype.from_dict(r["genotype"])
        r["predicted"] = dict(table.predict(g), in_context_ms=table.predict_in_context(g))
    meas = [r["measured"]["median"] for r in rows]
    predictors = {  # label -> predictions
        "ops timed alone, summed": [r["predicted"]["additive_ms"] for r in rows],
        "**table model**: ops timed alone + per-network overhead": [r["predicted"]["total_ms"] for r in rows],
        "ops timed in context, summed": [r["predicted"]["in_context_ms"] for r in rows],
        "ops timed in context + per-network overhead": [r["predicted"]["in_context_ms"] + table.overhead_ms
                                                        for r in rows]}
    scores = {label: metrics(p, meas) for label, p in predictors.items()}
    m_tab = scores["**table model**: ops timed alone + per-network overhead"]
    load_after = os.getloadavg()
    loads = [r for r in rows if r.get("load_avg")]
    ref_ms = [r["measured"]["median"] for r in refs] + [ref_build_ms]
    noise = {"n": len(ref_ms), "median": statistics.median(ref_ms), "min": min(ref_ms), "max": max(ref_ms),
             "within_10pct_of_median": sum(abs(v / statistics.median(ref_ms) - 1) <= 0.1 for v in ref_ms) / len(ref_ms)}
    fp = table.fingerprint
    cmd = (f".venv/bin/python benchmarks/latency_validation.py --space {args.space} --n {args.n} --seed {args.seed} "
           f"--repeats {args.repeats}")
    ref = table.extra.get("reference", {})
    rel = table_path.resolve().relative_to(REPO) if table_path.resolve().is_relative_to(REPO) else table_path
    result = {"command": cmd, "space": args.space, "table": str(rel),
              "fingerprint": fp, "build_seconds": table.extra.get("build_seconds"), "overhead_ms": table.overhead_ms,
              "predictors": {k.replace("*", ""): v for k, v in scores.items()}, "table_model": m_tab,
              "load_avg_before": load_before,
              "load_avg_after": load_after, "reference_remeasured": noise, "report_run_nice": os.nice(0),
              "beside": args.beside,
              "wall_seconds": round(time.time() - t0), "rows": rows}
    out = Path(args.out)
    name = f"latency_validation_{args.space}"
    plot(rows, out / f"{name}.png", f"{args.space} x{args.scale}, {len(rows)} random genotypes, "
         f"{fp['input_hw'][0]}x{fp['input_hw'][1]} input, ORT CPU {fp['threads']} thread")
    lines = [f"# Latency table vs measurement: {args.space} space", "",
             f"Made by `{cmd}` (`benchmarks/latency_validation.py`). {len(rows)} random genotypes of the {args.space} "
             f"space ({table.num_feat} channels, {table.num_block} blocks, x{args.scale}; `srnas sample`, seed "
             f"{args.seed}), each derived network exported to ONNX with BN folded and timed end to end on "
             f"{fp['runtime']} {fp['provider']}, {fp['threads']} intra-op thread(s), pinned, input "
             f"{fp['input_hw'][0]}x{fp['input_hw'][1]} (the LR of a 1280x720 x{args.scale} output), median of "
             f"{args.repeats} runs after one warm-up. CPU: {fp['cpu']} ({fp['cores']} cores, {', '.join(fp['isa'])}).",
             "",
             f"Table `{result['table']}`: built by `srnas latency build --space {args.space} --out "
             f"{result['table']}` in {table.extra.get('build_seconds')} s; reference network (every position "
             f"{table.primitives[0]}) measured {ref.get('measured', {}).get('median', 0):.1f} ms, in-context sum "
             f"{ref.get('additive_ms', 0):.1f} ms, so the per-network overhead is {table.overhead_ms:+.1f} ms.",
             "", "| predictor | within +-10 % | within +-5 % | Kendall tau | mean abs error | mean signed error | "
             "largest abs error |", "|---|---|---|---|---|---|---|"]
    for label, m in scores.items():
        lines.append(f"| {label} | {m['within_10pct']:.0%} | {m['within_5pct']:.0%} | {m['kendall_tau']:.3f} | "
                     f"{m['mape']:.1%} | {m['mean_error']:+.1%} | {m['max_abs_error']:.1%} |")
    lines += ["", f"**Table model (what `srnas profile --latency` and the search use): {verdict(m_tab)}.**", "",
              "The in-context rows time each op inside a block of reference ops (nn-Meter's remedy for fusion and "
              "layout effects); they are differences of block times, so they carry the block's measurement noise. "
              "Twin candidates whose graphs are identical once BN is folded (`conv3` / `conv3_bn`, ...) show the "
              f"table's own noise: their entries differ by {twin_gap(table, 'median'):.1f} ms on average timed "
              f"alone and by {twin_gap(table, 'in_context'):.1f} ms in context.", "",
              f"Noise floor: the reference network, measured {noise['n']} times over the table build and this run, "
              f"took {noise['min']:.0f}-{noise['max']:.0f} ms (median {noise['median']:.0f} ms; "
              f"{noise['within_10pct_of_median']:.0%} of its measurements within +-10 % of their median).", "",
              f"Measured latencies span {min(meas):.0f}-{max(meas):.0f} ms. 1-minute load average "
              + (f"over the measurements: mean {statistics.mean(r['load_avg'][0] for r in loads):.2f}, range "
                 f"{min(r['load_avg'][0] for r in loads):.2f}-{max(r['load_avg'][0] for r in loads):.2f} "
                 f"({len(loads)} of {len(rows)} rows recorded it); " if loads else "not recorded per measurement; ")
              + f"at this report run {load_before[0]:.2f} -> {load_after[0]:.2f}; "
              + (f"niceness of the measuring process {sorted({r['nice'] for r in rows if 'nice' in r})}"
                 if any("nice" in r for r in rows) else "niceness not recorded per measurement")
              + f" (table build: {table.extra.get('settings', {}).get('nice', 'not recorded')})"
              + (f"; beside the measurements: {args.beside}" if args.beside else "") + ".", "",
              f"![scatter]({name}.png)", ""]
    atomic_write_text(out / f"{name}.json", json.dumps(result, indent=1) + "\n")
    atomic_write_text(out / f"{name}.md", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
