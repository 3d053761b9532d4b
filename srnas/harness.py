"""The run harness shared by ``srnas search`` and ``srnas train``.

What a long run needs besides its step: the experiment folder (options copied, file log), a records file
(``alphas.jsonl`` / ``val.jsonl``, cut back to the resumed step), TensorBoard, progress, stop signals (checked after
every step, agreed over the ranks), running means logged every ``print_freq`` iterations, and checkpoints: a
snapshot of a dict of stateful objects at the cadence, at the end and on a stop, restored exactly on resume.

A loop builds everything that can fail on bad input first, restores a checkpoint with :func:`restore`, then::

    with open_run(env, opt, "train", raw, option_file, resume, total, start, history, "val.jsonl", progress) as run:
        for step in range(start, total):
            out = ...                       # one iteration
            run.tick(out)                   # progress, running means, stop flag
            ...
            run.checkpoint(step + 1, lambda: snapshot(...))   # cadence; raises Interrupted after a stop signal
"""
from __future__ import annotations

import json
import logging
import signal
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Optional

import torch

from srnas.errors import Interrupted, SrnasError
from srnas.utils.checkpoint import find_latest, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from srnas.utils.device import RunEnv
from srnas.utils.experiment import add_file_logger, prepare_experiment
from srnas.utils.files import atomic_write_text
from srnas.utils.progress import progress_bar, reset_bar

log = logging.getLogger("srnas")
KIND_NAMES = {"search": "search", "train": "training"}


@contextmanager
def stop_signals() -> Iterator[dict[str, bool]]:
    """Turn SIGINT/SIGTERM into a flag the loop checks after each step (a second signal aborts at once)."""
    flag = {"stop": False}
    previous = {}

    def handler(signum, frame):  # noqa: ANN001
        if flag["stop"]:
            raise KeyboardInterrupt
        flag["stop"] = True
        log.warning("signal %s: saving a checkpoint after this step (send again to abort)", signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[sig] = signal.signal(sig, handler)
        except ValueError:  # not the main thread
            pass
    try:
        yield flag
    finally:
        for sig, h in previous.items():
            signal.signal(sig, h)


# ---- checkpoints: a dict of stateful objects ----------------------------------------------------------------------
def find_checkpoint(opt: Any, resume: bool) -> Optional[tuple[Path, dict[str, Any]]]:
    """The newest readable checkpoint of ``<experiments_root>/<name>`` with ``resume``, else ``path.resume_state``."""
    found = find_latest(Path(opt.path.experiments_root) / opt.name / "checkpoints") if resume else None
    if found is None and opt.path.resume_state:
        found = (Path(opt.path.resume_state), load_checkpoint(opt.path.resume_state))
    return found


def snapshot(kind: str, step: int, objects: Mapping[str, Any], history: dict, **extra: Any) -> dict[str, Any]:
    """A checkpoint: every object's ``state_dict()`` (a generator's ``get_state()``; None stays None) under its key,
    the global RNG states, the history and ``extra``."""
    state: dict[str, Any] = {"kind": kind, "step": step}
    for key, obj in objects.items():
        state[key] = None if obj is None else obj.get_state() if isinstance(obj, torch.Generator) else obj.state_dict()
    state.update(rng=rng_state(), history=history, **extra, srnas_version=1)
    return state


def restore(path: Path, state: dict[str, Any], kind: str, objects: Mapping[str, Any], mismatch: str) -> dict:
    """Load a :func:`snapshot` into the live ``objects`` (skipping those that are None here or in the file, as older
    checkpoints lack some); returns its history. ``mismatch`` names what a module's shapes must match."""
    if state.get("kind") != kind:
        raise SrnasError(f"{path}: not a {KIND_NAMES[kind]} checkpoint")
    for key, obj in objects.items():
        value = state.get(key)
        if obj is None or value is None:
            continue
        if isinstance(obj, torch.Generator):
            obj.set_state(value)
            continue
        try:
            obj.load_state_dict(value)
        except RuntimeError as e:
            if not isinstance(obj, torch.nn.Module):
                raise
            raise SrnasError(f"{path}: checkpoint does not match {mismatch} ({str(e).splitlines()[0]})") from None
    set_rng_state(state["rng"])
    return state["history"]


def keep_records(path: Path, step: int) -> None:
    """Drop the records (JSON lines with a ``step``) written after ``step`` (resume, DARTS-ADA rollback)."""
    kept = [ln for ln in path.read_text().splitlines() if ln and json.loads(ln)["step"] <= step]
    atomic_write_text(path, "".join(k + "\n" for k in kept))


# ---- the open run ---------------------------------------------------------------------------------------------------
class Run:
    """One open run (see :func:`open_run`): folder, records, TensorBoard, progress, running means, stop flag."""

    def __init__(self, env: RunEnv, opt: Any, kind: str, exp: Path, total: int, start: int, elapsed: float,
                 records: Optional[str], progress: bool):
        self.env, self.kind, self.exp, self.total = env, kind, exp, total
        self.print_freq, self.save_freq = opt.logger.print_freq, opt.logger.save_checkpoint_freq
        self.keep = opt.logger.keep_checkpoints
        self.ckpt_dir = exp / "checkpoints"
        self.records = exp / records if records else None
        if env.main and self.records is not None and self.records.exists():
            if start == 0:
                self.records.unlink()
            else:  # drop records written after the checkpoint we resumed from
                keep_records(self.records, start)
        self.tb = None
        if opt.logger.use_tb_logger and env.main:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(exp / "tb"))
        self.bar = progress_bar(total, start, f"{kind} {opt.name}", "it", dynamic_ncols=True) \
            if progress and env.main else None
        self.t0 = time.perf_counter() - float(elapsed)
        self.running: dict[str, list[float]] = {}
        self.signals = {"stop": False}

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    @property
    def stop(self) -> bool:
        return self.signals["stop"]

    def tick(self, out: dict[str, float], postfix: tuple[str, ...] = ()) -> None:
        """After one iteration: progress, the running means of ``out``, the stop flag agreed over the ranks."""
        for k, v in out.items():
            self.running.setdefault(k, []).append(v)
        if self.bar is not None:
            self.bar.update(1)
            if out:
                self.bar.set_postfix({k: f"{v:.4f}" for k, v in out.items() if k in postfix})
        self.signals["stop"] = self.env.any_rank(self.signals["stop"])

    def means(self, reset: bool = False) -> dict[str, float]:
        """Mean of every running value since the last reset."""
        means = {k: sum(v) / len(v) for k, v in self.running.items() if v}
        if reset:
            self.running = {}
        return means

    def scalar(self, tag: str, value: float, step: int) -> None:
        if self.tb is not None:
            self.tb.add_scalar(tag, value, step)

    def log_losses(self, done: int, lr: float, tag: str, lr_tag: str, where: str = "", reset: bool = False) -> None:
        """Every ``print_freq`` iterations (rank 0): ``iter n/N[ where] lr x: means`` and the means in TensorBoard
        under ``<tag><name>``. ``grad_*`` entries go to TensorBoard only."""
        if done % self.print_freq or not self.env.main:
            return
        means = self.means(reset)
        msg = ", ".join(f"{k} {v:.5f}" for k, v in means.items() if not k.startswith("grad_"))
        log.info("iter %d/%d%s lr %.3g: %s", done, self.total, where, lr, msg or "all batches skipped")
        for k, v in means.items():
            self.scalar(f"{tag}{k}", v, done)
        self.scalar(lr_tag, lr, done)

    def append_record(self, rec: dict[str, Any]) -> None:
        with open(self.records, "a") as f:
            f.write(json.dumps(rec) + "\n")

    def due(self, done: int, force: bool = False) -> bool:
        """Whether iteration ``done`` saves (rank 0): every ``save_checkpoint_freq``, at the end, when ``force`` or on
        a stop signal."""
        return self.env.main and (done % self.save_freq == 0 or done == self.total or force or self.stop)

    def checkpoint(self, done: int, make: Callable[[], dict[str, Any]], force: bool = False) -> None:
        """Save ``make()`` when :meth:`due` (the last ``keep_checkpoints`` kept); then raise :class:`Interrupted`
        after a stop signal."""
        if self.due(done, force):
            save_checkpoint(self.ckpt_dir, done, make(), self.keep)
        if self.stop:
            raise Interrupted(f"interrupted at iteration {done}; checkpoint saved in {self.ckpt_dir}: "
                              f"continue with --resume")

    def rewind(self, step: int) -> None:
        """Back to ``step`` (DARTS-ADA rollback): running means cleared, progress moved."""
        self.running = {}
        if self.bar is not None:
            reset_bar(self.bar, step)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.tb is not None:
            self.tb.close()


@contextmanager
def open_run(env: RunEnv, opt: Any, kind: str, raw: dict, option_file: Optional[str], resume: bool, total: int,
             found: Optional[tuple[Path, dict]], elapsed: float, records: Optional[str],
             progress: bool) -> Iterator[Run]:
    """Create (or reuse) ``<experiments_root>/<name>`` (rank 0), attach the file log, and yield the open :class:`Run`
    with stop signals caught; everything is closed on the way out. Call it after everything that can fail on bad
    input, so a bad run leaves no folder."""
    exp = prepare_experiment(opt.path.experiments_root, opt.name, resume, raw, option_file) if env.main \
        else Path(opt.path.experiments_root) / opt.name
    env.barrier()
    handler = add_file_logger(exp, kind) if env.main else None
    start = int(found[1]["step"]) if found is not None else 0
    if found is not None:
        log.info("resumed from %s at iteration %d", found[0], start)
    elif resume:
        log.warning("%s: no checkpoint to resume from; starting from iteration 0", exp / "checkpoints")
    run = Run(env, opt, kind, exp, total, start, elapsed, records, progress)
    try:
        with stop_signals() as signals:
            run.signals = signals
            yield run
    finally:
        run.close()
        if handler is not None:
            logging.getLogger("srnas").removeHandler(handler)
