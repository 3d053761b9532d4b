"""Reproduction of the Hessian claims: the dominant eigenvalue of d2 L_val / d alpha2 over the search.

Claims: R-DARTS (Zela et al. 2020): DARTS' failure coincides with a growing dominant eigenvalue; SDARTS (Chen &
Hsieh 2020): random smoothing of alpha in the w step implicitly regularises that Hessian; SA-DARTS (Fig. 5): SA gives
a flatter landscape in alpha than DARTS. The DARTS and SA runs are those of ``repro_top2_margin.py`` (shared run
folders); SDARTS-RS is added here. The eigenvalue is logged by the search itself (``search.hessian.every_epochs: 2``,
``srnas/search/hessian.py``).

    nice -n 5 .venv/bin/python experiments/reproductions/repro_hessian.py [--seeds 0 1 2] [--smoke]
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

REPORT = "repro_hessian"
LABELS = ["DARTS", "SA", "SDARTS-RS"]
SEEDS = [0, 1, 2]
CLAIM = ("Claims: R-DARTS (Zela et al. 2020): DARTS' failure coincides with a growing dominant eigenvalue of d2 L_val "
         "/ d alpha2; SDARTS (Chen & Hsieh 2020): random smoothing of alpha in the w step implicitly regularises that "
         "Hessian and keeps the eigenvalue low; SA-DARTS (Fig. 5): SA gives a flatter landscape in alpha than DARTS.")


def eig(run) -> dict[int, float]:
    return {int(e): float(v) for e, v in run.summary["eigenvalues"]}


def setup(args) -> str:
    return "\n".join([
        "## Setup (scaled to 2 CPU cores)",
        "",
        f"- The IMDN-space runs of `repro_top2_margin.md` (num_feat {args.num_feat}, 2 IMD blocks, 12 candidates, 48 "
        f"alpha entries, no warm-up, {args.iters} iterations = {args.epochs} epochs of {args.epoch_length}) plus "
        "SDARTS-RS (eps = 0.03 -> 0.3 linearly over the epochs, one delta per alpha row shared by the blocks, alpha "
        "step plain DARTS).",
        f"- Eigenvalue: exact 48x48 Hessian of the L1 loss on one fixed alpha-split batch ({args.batch} LR patches of "
        "16x16), by double backprop, supernet in eval mode, every 2 epochs (R-DARTS: every 2 of 50 epochs); the "
        "largest eigenvalue of (H + H^T)/2. No alpha-wd term (R-DARTS adds arch_wd * I).",
        f"- seeds {args.seeds}.",
    ])


def figure(runs, args):
    def draw(path: Path) -> None:
        fig, ax = C.subplots(figsize=(6.5, 3.8))
        for i, label in enumerate(LABELS):
            for j, r in enumerate(x for x in runs if x.label == label):
                e = eig(r)
                ax.plot(list(e), list(e.values()), marker="o", markersize=3, color=f"C{i}",
                        label=label if j == 0 else None)
        ax.set_xlabel(f"epoch ({args.epoch_length} iterations)")
        ax.set_ylabel("dominant eigenvalue of d2 L_val / d alpha2")
        ax.set_title("Hessian eigenvalue during the search (one line per seed)", fontsize=10)
        ax.legend()
        C.save_figure(fig, path)
    return draw


def main(argv=None) -> Path:
    args = C.parse_args(__doc__, argv, SEEDS)
    runs = C.imdn_runs(args, LABELS)
    epochs = sorted({e for r in runs for e in eig(r)})
    per_epoch, per_run, summary = [], [], []
    for label in LABELS:
        mine = [r for r in runs if r.label == label]
        if not mine:
            continue
        ratios = [list(eig(r).values())[-1] / list(eig(r).values())[0] for r in mine if eig(r)]
        per_epoch.append([label, *(C.pm([eig(r)[e] for r in mine if e in eig(r)], ".1e") for e in epochs),
                          C.pm(ratios, ".2f")])
        for r in mine:
            per_run.append([label, r.seed, ", ".join(f"{v:.2e}" for v in eig(r).values()),
                            f"{r.final['top2_margin']:.2e}", f"{r.final['losses']['l_val']:.4f}",
                            ", ".join(r.final["genotype"]["ops"]), r.summary["impl"]])
        first, _ = C.mean_std([list(eig(r).values())[0] for r in mine if eig(r)])
        last, _ = C.mean_std([list(eig(r).values())[-1] for r in mine if eig(r)])
        summary.append(f"{label}: eigenvalue {first:.2e} at the first evaluation -> {last:.2e} at the last "
                       f"(ratio {C.pm(ratios, '.2f')}, n = {len(mine)})")
    head = C.report_head(
        "dominant Hessian eigenvalue of L_val in alpha over the search",
        CLAIM,
        setup(args),
        REPORT,
        args,
        runs,
        command_note=", and the DARTS / SA runs are shared with `repro_top2_margin.py`",
        wall_note=f", {args.epochs // 2} Hessians each included",
    )
    md = f"""{head}

## Results

![eigenvalues]({REPORT}.png)

Dominant eigenvalue, mean ± std over seeds, per evaluated epoch:

{C.table(["method", *(f"epoch {e}" for e in epochs), "last / first"], per_epoch)}

{C.table(["method", "seed", "eigenvalues", "final margin", "final L_val", "derived ops", "impl"], per_run)}

## Verdict

{C.verdict(REPORT, "; ".join(summary) + ".")}
"""
    return C.write_report(args, REPORT, md, figure(runs, args))


if __name__ == "__main__":
    C.cli(main)
