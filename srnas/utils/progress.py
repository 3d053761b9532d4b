"""Progress of long work: a tqdm bar on a terminal, a log line every tenth of the work anywhere else.

A tqdm bar written to a log file or a pipe becomes one line of megabytes (carriage returns), so when the stream is
not a terminal :class:`LogProgress` logs ``desc: n/total (p %), s/it, eta`` every ``every`` percent (10) instead. Both
have tqdm's ``update``, ``set_postfix``, ``refresh``, ``close`` and ``n``.
"""
from __future__ import annotations

import logging
import sys
import time
from typing import Any, Optional, TextIO

log = logging.getLogger("srnas")


class LogProgress:
    """tqdm's interface for output that is not a terminal: one log line per ``every`` percent of ``total``."""

    def __init__(self, total: Optional[int] = None, initial: int = 0, desc: str = "", unit: str = "it",
                 every: float = 10.0, **_: Any):
        self.total, self.n, self.desc, self.unit, self.every = total, initial, desc, unit, every
        self._start_n, self._t0 = initial, time.perf_counter()
        self._last = self._bucket(initial)
        self.postfix: dict[str, Any] = {}

    def _bucket(self, n: int) -> int:
        return int(100.0 * n / self.total // self.every) if self.total else n

    def update(self, n: int = 1) -> None:
        self.n += n
        bucket = self._bucket(self.n)
        if bucket > self._last or (self.total and self.n >= self.total and self._last < self._bucket(self.total)):
            self._last = bucket
            log.info("%s", self.line())

    def line(self) -> str:
        """``desc: n/total (p %), s/unit, eta``, then the postfix."""
        done = self.n - self._start_n
        per = (time.perf_counter() - self._t0) / done if done > 0 else None
        text = f"{self.desc}: {self.n}/{self.total}" if self.total else f"{self.desc}: {self.n}"
        if self.total:
            text += f" ({100.0 * self.n / self.total:.0f} %)"
        if per is not None:
            text += f", {per:.3g} s/{self.unit}"
            if self.total:
                text += f", eta {_duration(per * (self.total - self.n))}"
        if self.postfix:
            text += ", " + ", ".join(f"{k} {v}" for k, v in self.postfix.items())
        return text

    def set_postfix(self, ordered_dict: Optional[dict] = None, refresh: bool = True, **kwargs: Any) -> None:
        self.postfix = {**(ordered_dict or {}), **kwargs}

    def reset_to(self, n: int) -> None:
        """Move back (or on) to ``n`` (a rollback); the rate restarts."""
        self.n = self._start_n = n
        self._t0 = time.perf_counter()
        self._last = self._bucket(n)

    def refresh(self) -> None:
        pass

    def close(self) -> None:
        pass


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def progress_bar(total: Optional[int] = None, initial: int = 0, desc: str = "", unit: str = "it",
                 stream: Optional[TextIO] = None, **kwargs: Any) -> Any:
    """A tqdm bar when ``stream`` (stderr) is a terminal, else a :class:`LogProgress` (keyword arguments of tqdm
    such as ``leave`` or ``dynamic_ncols`` are accepted by both)."""
    stream = stream or sys.stderr
    if getattr(stream, "isatty", lambda: False)():
        from tqdm import tqdm

        return tqdm(total=total, initial=initial, desc=desc, unit=unit, file=stream, **kwargs)
    return LogProgress(total=total, initial=initial, desc=desc, unit=unit)


def reset_bar(bar: Any, n: int) -> None:
    """Move a :func:`progress_bar` back to ``n`` (DARTS-ADA rollback)."""
    if isinstance(bar, LogProgress):
        bar.reset_to(n)
    else:
        bar.n = n
        bar.refresh()
