"""All reproductions in one process: the positive control first, then the four claims (shared runs are searched once,
skip-if-done), each report written as soon as its runs are done. The same command resumes an interrupted invocation.

    OMP_NUM_THREADS=1 nohup nice -n 10 .venv/bin/python experiments/reproductions/run_all.py \
        >> experiments/reproductions/run_all.log 2>&1 &
    .venv/bin/python experiments/reproductions/run_all.py --report-only   # every report from the finished runs
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

SCRIPTS = ["repro_control", "repro_top2_margin", "repro_hessian", "repro_negative_init", "repro_skip_init"]


def main(argv=None) -> list[Path]:
    return [importlib.import_module(name).main(argv) for name in SCRIPTS]


if __name__ == "__main__":
    C.cli(main)
