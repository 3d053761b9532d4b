"""Skip-if-done stages (``srnas study``, ``srnas pipeline``): each stage is skipped when its output exists, resumes
from its checkpoints when it stopped half-way, and its wall time is recorded in a JSON file as soon as it finishes.

The record is ``{"stages": {<stage>: {"seconds", **info}}, ...}`` (other top-level keys are kept as they are);
:class:`CallRecord` also keeps the wall time of every call (``"calls"``), so a study stopped and continued several
times still adds up its cost.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Optional

from srnas.utils.checkpoint import list_checkpoints
from srnas.utils.files import atomic_write_text


class StageRecord:
    """A JSON file of finished stages, rewritten (atomically) after each one."""

    def __init__(self, path: Path):
        self.path = path
        self.data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {"stages": {}}

    @property
    def stages(self) -> dict[str, dict]:
        return self.data["stages"]

    def done(self, stage: str, seconds: float, **info: Any) -> None:
        self.stages[stage] = {"seconds": round(seconds, 1), **info}  # info may add cpu_seconds
        self.save()

    def save(self) -> None:
        atomic_write_text(self.path, json.dumps(self.data, indent=2) + "\n")


class CallRecord(StageRecord):
    """A :class:`StageRecord` that also times this call: ``calls[-1]`` = start, seconds so far, machine, 1-min load
    average range, and whether it finished (every stage done) and ended (False after the call: it was killed, and its
    time after the last finished stage is lost)."""

    def __init__(self, path: Path, machine: str):
        super().__init__(path)
        self.data.setdefault("calls", []).append({"started": time.strftime("%Y-%m-%d %H:%M:%S"), "seconds": 0.0,
                                                  "finished": False, "machine": machine})
        self.t0 = time.perf_counter()
        self.save()

    def save(self, finished: bool = False, ended: bool = False) -> None:
        call = self.data["calls"][-1]
        call["seconds"] = round(time.perf_counter() - self.t0, 1)
        call["finished"] = finished
        call["ended"] = ended
        load = round(os.getloadavg()[0], 1)  # other processes on the machine inflate the wall times
        call["load_min"] = min(call.get("load_min", load), load)
        call["load_max"] = max(call.get("load_max", load), load)
        super().save()


def can_resume(exp: Path) -> bool:
    """True when the experiment folder ``exp`` holds a checkpoint to resume from."""
    return bool(list_checkpoints(exp / "checkpoints"))


def run_stage(record: StageRecord, stage: str, done: Path | bool, run: Callable[[bool], Optional[dict]],
              exp: Optional[Path] = None) -> bool:
    """Run ``stage`` unless it is done, and record its wall time.

    Args:
        record: where the stage's seconds and info go (as ``record.stages[stage]``).
        stage: its name in the record (e.g. ``search``, ``train/<run>``).
        done: the output whose existence means the stage is done (or whether it is done).
        run: runs the stage; gets ``resume`` (``exp`` holds a checkpoint) and returns the info to record (or None).
        exp: the stage's experiment folder (searches and runs resume from it); None: nothing to resume.

    Returns:
        Whether the stage ran.
    """
    if done.exists() if isinstance(done, Path) else done:
        return False
    t0, c0 = time.perf_counter(), time.process_time()
    info = run(exp is not None and can_resume(exp))
    # CPU seconds of this process (all its threads): the cost without the time other processes took from the cores
    cpu = round(time.process_time() - c0, 1)
    record.done(stage, time.perf_counter() - t0, **{"cpu_seconds": cpu, **(info or {})})
    return True
