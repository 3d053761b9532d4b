"""R-DARTS pieces beyond the eigenvalue and DARTS-ES (``hessian.py``): ScheduledDropPath (R-DARTS(DP)) and the
DARTS-ADA rollback (brief §4.5; method notes §7). R-DARTS(L2) needs no code: it is a larger ``optim_w.weight_decay``.

What carries over to the SR spaces, and what does not:

* **DP** applies: R-DARTS drops each edge's mixed-op output per sample (``drop_path``) in training mode, in the w and
  the alpha step, with ``p_e = p * e / (E - 1)`` (epoch from 0). Here the edge is a searchable position: in a DLSR
  MRB the residual ``LReLU(mixed(x) + x)`` keeps ``x`` when the mixed output is dropped, close to a DARTS edge; in an
  IMD block the four positions form a chain, so dropping one zeroes the rest of that block's chain for the sample
  (only the block's residual survives): there it acts as stochastic depth rather than edge dropout [I]. It does
  not combine with Lambda-DARTS (its finite-difference passes would draw different masks: the loop refuses it).
* **ADA** applies: on the DARTS-ES trigger, roll back to the stop epoch and multiply the w weight decay by
  ``mul_factor`` (up to ``max_weight_decay``), then continue; at the maximum, later triggers are ignored (R-DARTS
  ``final_iteration``). deviation: R-DARTS raises SGD's weight decay from 3e-4; the SR searches use Adam (coupled L2,
  rescaled per coordinate) from 1e-8, so set ``optim_w.weight_decay`` to a real start value (e.g. 3e-4) first [I].
* R-DARTS' reduced spaces S1-S4 and ``none``-aware derivation are DARTS-cell specific (no node/edge choice here).
"""
from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from torch import Tensor, nn

from srnas.losses import sr_loss
from srnas.search.hessian import EarlyStop, dominant_eigenvalue, hessian_wrt
from srnas.search.mixed_op import MixedOp
from srnas.utils.files import atomic_write

log = logging.getLogger("srnas")
_EPOCH_NAME = re.compile(r"^epoch_(\d+)\.pth$")


def drop_path_prob(prob: float, epoch: int, num_epochs: int) -> float:
    """R-DARTS ``drop_path_prob * epoch / (epochs - 1)`` with the epoch counted from 1 here: 0 in the first epoch,
    ``prob`` in the last (``prob`` when ``num_epochs == 1``)."""
    return prob if num_epochs <= 1 else prob * (epoch - 1) / (num_epochs - 1)


class ScheduledDropPath:
    """R-DARTS(DP): per sample, zero a mixed op's output with probability ``p_e`` and scale the kept ones by
    ``1 / (1 - p_e)`` (DARTS ``utils.drop_path``), in training mode only (eval: validation, Hessian, SDARTS-ADV).

    Implemented as forward hooks on every :class:`MixedOp` of ``net`` (any ``impl``); masks come from ``generator``
    (CPU), whose state the search checkpoint keeps.

    Args:
        net: the supernet.
        prob: the final drop probability ``p`` (R-DARTS grid: 0.2, 0.4, 0.6).
        generator: random source of the masks.
    """

    def __init__(self, net: nn.Module, prob: float, generator: torch.Generator):
        if not 0.0 <= prob < 1.0:
            raise ValueError(f"drop-path probability must be in [0, 1), got {prob}")
        self.prob, self.current, self.generator = float(prob), 0.0, generator
        self.handles = [m.register_forward_hook(self._hook) for m in net.modules() if isinstance(m, MixedOp)]

    def set_epoch(self, epoch: int, num_epochs: int) -> None:
        self.current = drop_path_prob(self.prob, epoch, num_epochs)

    def _hook(self, module: nn.Module, inputs: Any, output: Tensor) -> Optional[Tensor]:
        if not module.training or self.current <= 0.0:
            return None
        keep = 1.0 - self.current
        mask = torch.bernoulli(torch.full((output.shape[0], 1, 1, 1), keep), generator=self.generator)
        return output / keep * mask.to(device=output.device, dtype=output.dtype)  # DARTS drop_path

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles = []


class AdaRollback:
    """DARTS-ADA bookkeeping: per-evaluation snapshots ``<ckpt_dir>/epoch_<e>.pth`` (only the ones a future
    DARTS-ES stop can still point at are kept) and the weight-decay increase (R-DARTS ``early_stop 3``).

    Args:
        mul_factor: weight-decay multiplier per rollback (R-DARTS default 3, scripts 10).
        max_weight_decay: the cap; at the cap a trigger no longer rolls back (R-DARTS default 2.43e-2, scripts 0.03).
    """

    def __init__(self, mul_factor: float = 10.0, max_weight_decay: float = 0.03):
        self.mul_factor, self.max_weight_decay = float(mul_factor), float(max_weight_decay)

    @staticmethod
    def weight_decay(optimizer: torch.optim.Optimizer) -> float:
        return float(optimizer.param_groups[0].get("weight_decay", 0.0))

    def can_increase(self, optimizer: torch.optim.Optimizer) -> bool:
        return self.weight_decay(optimizer) < self.max_weight_decay * (1 - 1e-9)

    def increase(self, optimizer: torch.optim.Optimizer, current: float) -> float:
        """Set every group's weight decay to ``current * mul_factor``, capped; returns the new value. ``current`` is
        the value before the rollback (the restored optimizer state holds the stop epoch's older value)."""
        new = min(current * self.mul_factor, self.max_weight_decay)
        for group in optimizer.param_groups:
            group["weight_decay"] = new
        return new

    @staticmethod
    def path(ckpt_dir: Path, epoch: int) -> Path:
        return Path(ckpt_dir) / f"epoch_{epoch:05d}.pth"

    @staticmethod
    def saved_epochs(ckpt_dir: Path) -> list[int]:
        d = Path(ckpt_dir)
        return sorted(int(m.group(1)) for p in d.iterdir() if (m := _EPOCH_NAME.match(p.name))) if d.is_dir() else []

    def save(self, ckpt_dir: Path, epoch: int, state: dict[str, Any], early: EarlyStop) -> Path:
        """Write the snapshot of ``epoch`` and delete those no future stop can roll back to."""
        path = self.path(ckpt_dir, epoch)
        atomic_write(path, lambda f: torch.save(state, f))
        first = max(0, len(early.epochs) - 1 - early.window // 2 - early.delta)
        oldest_needed = early.epochs[first] if early.epochs else epoch
        for e in self.saved_epochs(ckpt_dir):
            if e < oldest_needed:
                self.path(ckpt_dir, e).unlink(missing_ok=True)
        return path

    def drop_after(self, ckpt_dir: Path, epoch: int) -> None:
        """Delete the snapshots of the abandoned branch (epochs after the rollback epoch)."""
        for e in self.saved_epochs(ckpt_dir):
            if e > epoch:
                self.path(ckpt_dir, e).unlink(missing_ok=True)


class HessianMonitor:
    """R-DARTS at the end of every ``every_epochs``-th search epoch: the dominant eigenvalue of the Hessian of L_val
    w.r.t. all architecture parameters (exact, by double backprop; method notes §7), and on its jump DARTS-ES (stop,
    derive from the earlier epoch) or DARTS-ADA (roll back to it with a larger w weight decay).

    Args:
        net: the supernet.
        cfg: the ``search.hessian`` options.
        batch: one fixed architecture-split batch (the same on every rank).
        hfen_weight: the loss's HFEN weight.
    """

    def __init__(self, net: nn.Module, cfg: Any, batch: dict[str, Tensor], hfen_weight: float):
        self.net, self.cfg, self.batch, self.hfen_weight = net, cfg, batch, hfen_weight
        self.early = EarlyStop(cfg.window, cfg.delta, cfg.factor, cfg.start_epoch) if cfg.early_stop else None
        self.ada = AdaRollback(cfg.mul_factor, cfg.max_weight_decay) if self.early is not None and cfg.ada else None
        self.stopped = False                    # DARTS-ES fired: stop and derive from early.stop_epoch
        self.rollback_to: Optional[int] = None  # DARTS-ADA fired: roll back to this epoch

    def eigenvalue(self) -> float:
        params = list(self.net.arch_parameters())
        was = self.net.training
        self.net.eval()  # fixed channel samples / BN statistics while differentiating twice
        try:
            h = hessian_wrt(lambda: sr_loss(self.net(self.batch["lq"]), self.batch["gt"], self.hfen_weight), params)
        finally:
            self.net.train(was)
        return dominant_eigenvalue(h)

    def epoch_end(self, epoch: int, done: int, history: dict, run: Any, snap: Callable[[int, dict], dict],
                  opt_w: torch.optim.Optimizer) -> None:
        """After epoch ``epoch`` (iteration ``done``): evaluate, record, decide; DARTS-ADA keeps a snapshot."""
        if epoch % self.cfg.every_epochs:
            return
        eig = self.eigenvalue()
        history.setdefault("eigenvalues", []).append([epoch, eig])
        log.info("epoch %d: dominant Hessian eigenvalue %.5g", epoch, eig)
        run.scalar("alpha/hessian_eigenvalue", eig, done)
        if self.early is not None and self.early.record(epoch, eig):
            if self.ada is None:
                self.stopped = True
                log.info("DARTS-ES: eigenvalue jump; stopping and deriving from epoch %d", self.early.stop_epoch)
            elif self.ada.can_increase(opt_w):  # R-DARTS early_stop 3
                self.rollback_to = self.early.stop_epoch
            else:
                log.info("DARTS-ADA: eigenvalue jump at the maximum weight decay; continuing")
        if self.ada is not None and run.env.main:
            self.ada.save(run.ckpt_dir, epoch, snap(done, history), self.early)

    def rollback(self, epoch: int, run: Any, objects: dict, history: dict, snap: Callable[[int, dict], dict],
                 opt_w: torch.optim.Optimizer) -> tuple[int, dict]:
        """DARTS-ADA: back to the stop epoch's snapshot with a larger w weight decay; the abandoned branch's records,
        checkpoints and snapshots are dropped. Returns the step to continue from and the restored history."""
        from srnas.harness import keep_records, restore
        from srnas.utils.checkpoint import list_checkpoints, load_checkpoint, save_checkpoint

        run.env.barrier()
        path = self.ada.path(run.ckpt_dir, self.rollback_to)
        entry = {"epoch": epoch, "rollback_to": self.rollback_to, "eigenvalues": history.get("eigenvalues")}
        ada_log, elapsed = history.get("ada", []) + [entry], history["elapsed"]
        wd = self.ada.weight_decay(opt_w)
        state = load_checkpoint(path)
        history = restore(path, state, "search", objects, "this supernet")
        history["ada"], history["elapsed"] = ada_log, elapsed
        entry["weight_decay"] = self.ada.increase(opt_w, wd)
        start, self.rollback_to = int(state["step"]), None
        if run.env.main:
            keep_records(run.records, start)
            for old in list_checkpoints(run.ckpt_dir):
                if int(old.stem.split("_")[1]) > start:
                    old.unlink()
            self.ada.drop_after(run.ckpt_dir, entry["rollback_to"])
            save_checkpoint(run.ckpt_dir, start, snap(start, history), run.keep)
        run.rewind(start)
        log.info("DARTS-ADA: eigenvalue jump at epoch %d; rolled back to epoch %d with w weight decay %.3g",
                 entry["epoch"], entry["rollback_to"], entry["weight_decay"])
        return start, history
