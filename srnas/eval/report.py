"""Compare experiments: a table and a PSNR-vs-Mult-Adds plot (a FLOPs-lambda sweep reads as a Pareto front), and a
PSNR-vs-measured-latency plot when the reports carry a latency.

Each experiment contributes the ``report.json`` files found in its folder (written by ``srnas bench --report`` and
``srnas pipeline``): ``{"params", "macs", "scale", "results": {"<set>": {"psnr", "ssim"}}}``, plus
``"latency": {"median_ms", ...}`` once ``srnas latency measure --report`` measured it.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from srnas.errors import SrnasError


def collect(paths: Sequence[str | Path]) -> list[dict]:
    """One row per report.json under each path (the path itself may be a report.json); ``search`` is the searched
    genotype's decision flag (``srnas.archs.genotype.decision_flag``)."""
    from srnas.archs.genotype import decision_flag

    rows = []
    for p in map(Path, paths):
        files = [p] if p.is_file() else sorted(p.rglob("report.json")) if p.is_dir() else []
        if not files:
            raise SrnasError(f"{p}: no report.json (run `srnas bench --report` or `srnas pipeline` first)")
        for f in files:
            try:
                r = json.loads(f.read_text())
                row = {"name": p.name if len(files) == 1 else f"{p.name}/{f.parent.relative_to(p)}",
                       "file": str(f), "params": int(r["params"]), "macs": float(r["macs"]), "scale": r.get("scale"),
                       "psnr": {k: float(v["psnr"]) for k, v in r["results"].items()},
                       "search": decision_flag((r.get("genotype") or {}).get("info")),
                       "latency_ms": float(r["latency"]["median_ms"]) if r.get("latency") else None}
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
                raise SrnasError(f"{f}: not a report.json ({e.__class__.__name__}: {e})") from None
            rows.append(row)
    return rows


def pareto(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points not dominated in (lower cost, higher quality), sorted by cost."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], float("-inf")
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def markdown(rows: list[dict]) -> str:
    known = ["Set5", "Set14", "B100", "Urban100"]
    sets = sorted({s for r in rows for s in r["psnr"]}, key=lambda s: (known.index(s) if s in known else 99, s))
    lat = any(r.get("latency_ms") is not None for r in rows)  # `srnas latency measure --report` was run
    lines = ["| experiment | search | scale | params (K) | Mult-Adds (G) | " + ("latency (ms) | " if lat else "") +
             " | ".join(sets) + " |", "|---|---|---|---|---|" + "---|" * (len(sets) + lat)]
    for r in sorted(rows, key=lambda r: r["macs"]):
        cells = [f"{r['psnr'][s]:.2f}" if s in r["psnr"] else "-" for s in sets]
        ms = (f"{r['latency_ms']:.0f} | " if r.get("latency_ms") is not None else "- | ") if lat else ""
        lines.append(f"| {r['name']} | {r.get('search', '-')} | x{r['scale']} | {r['params'] / 1e3:.1f} | "
                     f"{r['macs'] / 1e9:.2f} | " + ms + " | ".join(cells) + " |")
    notes = ["", "search: `decided` = every position of the searched genotype passed the decision criterion (README "
             "\"Did the search decide?\"); `NOT decided (n/N)` = its ops at the other positions were not chosen by "
             "the data; `-` = not a searched genotype with a decision record (hand-designed, released, or older)."]
    return "\n".join(lines + notes)


def plot(rows: list[dict], out: Path, sets: Sequence[str] = ("Set5", "Urban100"), cost: str = "macs") -> Path:
    """PSNR vs Mult-Adds (``cost="macs"``) or vs measured latency (``"latency_ms"``, rows without one left out), one
    panel per set, the Pareto front joined by a line."""
    if cost == "latency_ms":
        rows = [r for r in rows if r.get("latency_ms") is not None]
    scale_by, xlabel = (1e9, "Mult-Adds (G, 1280x720 output)") if cost == "macs" else \
        (1.0, "measured latency (ms)")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = [s for s in sets if any(s in r["psnr"] for r in rows)] or sorted({s for r in rows for s in r["psnr"]})[:2]
    fig, axes = plt.subplots(1, len(sets), figsize=(5.2 * len(sets), 4), squeeze=False)
    for ax, s in zip(axes[0], sets):
        pts = [(r[cost] / scale_by, r["psnr"][s],
                r["name"] + (f" [{r['search']}]" if r.get("search", "-") != "-" else ""))
               for r in rows if s in r["psnr"]]
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], zorder=3)
        for x, y, name in pts:
            ax.annotate(name, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        front = [pts[i] for i in pareto([(p[0], p[1]) for p in pts])]
        ax.plot([p[0] for p in front], [p[1] for p in front], "r--", lw=1, label="Pareto front")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"PSNR on {s} (dB, Y)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=130)
    plt.close(fig)
    return out


def write_report(paths: Sequence[str | Path], out_dir: str | Path, force: bool = False) -> dict[str, Path]:
    """Collect, then write ``comparison.md``, ``comparison.json`` and ``comparison.png`` into ``out_dir``."""
    from srnas.utils.files import atomic_write_text

    rows = collect(paths)
    out_dir = Path(out_dir)
    files = {"md": out_dir / "comparison.md", "json": out_dir / "comparison.json", "png": out_dir / "comparison.png"}
    existing = [f for f in files.values() if f.exists()]
    if existing and not force:
        raise SrnasError(f"{existing[0]}: exists (use --force to overwrite)")
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(files["md"], markdown(rows) + "\n")
    atomic_write_text(files["json"], json.dumps(rows, indent=2) + "\n")
    plot(rows, files["png"])
    if any(r.get("latency_ms") is not None for r in rows):
        files["png_latency"] = plot(rows, out_dir / "comparison_latency.png", cost="latency_ms")
    return files
