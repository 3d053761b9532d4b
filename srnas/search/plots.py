"""PNG plots of a search from its ``alphas.jsonl`` records: the final softmax(alpha) heatmap, the trajectory of each
position's weights, and DLSR's network-level path weights."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_search(records: Sequence[dict], primitives: Sequence[str], out_dir: str | Path) -> list[Path]:
    """Write ``alpha_heatmap.png``, ``alpha_trajectories.png`` and (when there are betas) ``beta_trajectories.png``.

    Each record holds ``step`` and ``alphas``: a list (one per alpha tensor) of ``(N_e, N_o)`` softmax weights, and
    optionally ``betas``: a list of per-cell softmax vectors.
    """
    if not records:
        return []
    plt = _pyplot()
    out_dir = Path(out_dir)
    written = []
    steps = np.array([r["step"] for r in records])
    final = np.asarray(records[-1]["alphas"][0])  # first (or only) alpha tensor
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * len(primitives), 1.2 + 0.5 * final.shape[0]))
    im = ax.imshow(final, cmap="viridis", aspect="auto", vmin=0.0)
    ax.set_xticks(range(len(primitives)), primitives, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(final.shape[0]), [f"pos {i + 1}" for i in range(final.shape[0])])
    for (i, j), v in np.ndenumerate(final):
        ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6, color="w" if v < final.max() * 0.6 else "k")
    fig.colorbar(im, ax=ax, label="softmax(alpha)")
    ax.set_title(f"softmax(alpha) at step {records[-1]['step']}")
    fig.tight_layout()
    written.append(out_dir / "alpha_heatmap.png")
    fig.savefig(written[-1], dpi=120)
    plt.close(fig)

    traj = np.stack([np.asarray(r["alphas"][0]) for r in records])  # (T, N_e, N_o)
    n = traj.shape[1]
    fig, axes = plt.subplots(1, n, figsize=(4 * n, 3.2), squeeze=False)
    for i, ax in enumerate(axes[0]):
        for j, name in enumerate(primitives):
            ax.plot(steps, traj[:, i, j], label=name, lw=1.2)
        ax.set_title(f"position {i + 1}")
        ax.set_xlabel("iteration")
        ax.set_ylim(bottom=0)
    axes[0][0].set_ylabel("softmax(alpha)")
    axes[0][-1].legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    written.append(out_dir / "alpha_trajectories.png")
    fig.savefig(written[-1], dpi=120)
    plt.close(fig)

    if records[-1].get("betas"):
        cells = len(records[-1]["betas"])
        fig, axes = plt.subplots(1, cells, figsize=(3.2 * cells, 3.0), squeeze=False)
        for c, ax in enumerate(axes[0]):
            b = np.stack([np.asarray(r["betas"][c]) for r in records])
            for k in range(b.shape[1]):
                ax.plot(steps, b[:, k], label=f"cell {k + 1}")
            ax.set_title(f"inputs of cell {c + 3}")
            ax.set_xlabel("iteration")
            ax.legend(fontsize=6)
        fig.tight_layout()
        written.append(out_dir / "beta_trajectories.png")
        fig.savefig(written[-1], dpi=120)
        plt.close(fig)
    return written
