"""What a search records at each evaluation: ``alphas.jsonl`` (softmax alpha per position, betas, penalties, losses,
validation PSNR, derived genotype, decision diagnostics), its TensorBoard scalars and its log line."""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Optional

import torch

from srnas.data import BenchmarkDataset
from srnas.eval.bench import evaluate
from srnas.harness import Run
from srnas.search.decision import Criterion, assess, record_rows
from srnas.search.derive import top2_margin
from srnas.search.regularizers import alpha_loss

log = logging.getLogger("srnas")


def logit_rows(net: torch.nn.Module) -> list[list[float]]:
    """The raw op-alpha rows, all blocks' rows stacked (the positions of the decision diagnostics)."""
    return [r for a in net.op_alphas() for r in a.detach().cpu().tolist()]


def position_labels(net: torch.nn.Module) -> list[str]:
    """One name per op-alpha row: ``position j`` (shared alphas) or ``block b position j`` (per-block alphas)."""
    tensors = net.op_alphas()
    if len(tensors) == 1:
        return [f"position {j + 1}" for j in range(tensors[0].shape[0])]
    return [f"block {b + 1} position {j + 1}" for b, a in enumerate(tensors) for j in range(a.shape[0])]


def recent_rows(path: Path, window: int) -> list:
    """softmax(alpha) rows of the last ``window`` records (the decision history, rebuilt on resume)."""
    if not path.exists():
        return []
    recs = [json.loads(ln) for ln in path.read_text().splitlines() if ln][-window:]
    return [record_rows(rec) for rec in recs]


def validate(net: torch.nn.Module, dataset: Optional[BenchmarkDataset], scale: int,
             device: torch.device) -> Optional[dict]:
    """PSNR of the supernet on the validation set (None without one); train mode is restored."""
    if dataset is None:
        return None
    net.eval()
    try:
        r = evaluate(net, dataset, scale, device, ssim=False)
    finally:
        net.train()
    return {"psnr": r["psnr"], "set": dataset.name}


def make_record(net: torch.nn.Module, step: int, epoch: int, penalty_epoch: float, specs: list, num_epochs: int,
                losses: dict[str, float], val: Optional[dict], scale: int) -> dict[str, Any]:
    with torch.no_grad():
        _, terms = alpha_loss(net.op_alphas(), penalty_epoch, num_epochs, specs)
        flat = torch.cat([a.flatten() for a in net.op_alphas()])
        rec = {
            "step": step, "epoch": epoch,
            "alphas": [a.softmax(-1).cpu().tolist() for a in net.op_alphas()],
            "raw_alpha_stats": {"mean": float(flat.mean()), "std": float(flat.std())},
            "betas": [b.softmax(-1).cpu().tolist() for b in net.path_alphas()],
            "penalties": {k: float(v) for k, v in terms.items()},
            "losses": losses,
            "top2_margin": top2_margin(net.op_alphas()),
            "genotype": net.genotype(scale).to_dict(),
        }
    if val is not None:
        rec["val"] = val
    return rec


class Recorder:
    """Writes one ``alphas.jsonl`` record per evaluation (rank 0) and keeps the decision window and the epoch of the
    last genotype change (the paper's "converged" cost, §5.4, test vector 20) in ``history``."""

    def __init__(self, run: Run, criterion: Criterion, init_std: float, start: int):
        self.run, self.criterion, self.init_std = run, criterion, init_std
        self.recent = recent_rows(run.records, criterion.window) if run.env.main and start > 0 else []

    def rewind(self) -> None:
        """After the records were cut back (DARTS-ADA rollback): rebuild the decision window."""
        self.recent = recent_rows(self.run.records, self.criterion.window)

    def evaluate(self, net: torch.nn.Module, done: int, epoch: int, penalty_epoch: float, specs: list,
                 num_epochs: int, val: Optional[dict], scale: int, history: dict[str, Any]) -> dict[str, Any]:
        means = self.run.means(reset=True)
        losses = {k: v for k, v in means.items() if not k.startswith("grad_")}
        grads = {k[5:]: v for k, v in means.items() if k.startswith("grad_")} or None
        rec = make_record(net, done, epoch, penalty_epoch, specs, num_epochs, losses, val, scale)
        self.recent.append(record_rows(rec))  # the softmax rows just recorded
        del self.recent[:-self.criterion.window]
        rec["decision"] = assess(self.recent, net.primitives, self.init_std, self.criterion, logits=logit_rows(net),
                                 grads=grads, labels=position_labels(net))
        if rec["genotype"] != history["last_genotype"]:
            history["last_genotype"] = rec["genotype"]
            history["last_change_epoch"] = epoch
        rec["last_change_epoch"] = history["last_change_epoch"]
        self.run.append_record(rec)
        self._scalars(rec, done, grads)
        val_txt = f", val {rec['val']['psnr']:.3f} dB" if "val" in rec else ""
        d = rec["decision"]
        log.info("eval at iter %d (epoch %d)%s: %s; decided %d/%d, top-1 weight %s x uniform%s", done, epoch, val_txt,
                 rec["genotype"]["ops"], d["num_decided"], d["num_positions"],
                 "/".join(f"{p['ratio']:.2f}" for p in d["positions"]), _grad_text(grads))
        return rec

    def _scalars(self, rec: dict[str, Any], step: int, grads: Optional[dict]) -> None:
        s = self.run.scalar
        if "val" in rec:
            s("val/psnr", rec["val"]["psnr"], step)
        for k, v in rec["penalties"].items():
            s(f"penalty/{k}", v, step)
        s("alpha/top2_margin", rec["top2_margin"], step)
        d = rec["decision"]
        s("decision/decided_positions", d["num_decided"], step)
        for i, p in enumerate(d["positions"]):
            for key in ("ratio", "margin", "entropy", "gap", "noise", "alpha_mean", "alpha_std"):
                if key in p:
                    s(f"decision/{key}/{i + 1}", p[key], step)
        for k, v in (d["grads"] or {}).items():
            s(f"alpha_grad/{k}", v, step)


def _grad_text(grads: Optional[dict]) -> str:
    if not grads or not grads.get("val"):
        return ""
    pens = [f"{k} {v / grads['val']:.3g}x" for k, v in grads.items() if k != "val"]
    return f"; alpha-gradient norm L_val {grads['val']:.3g}" + (f" (penalties: {', '.join(pens)})" if pens else "")
