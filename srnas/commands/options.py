"""``srnas options KIND``: the commented option reference (defaults and meaning of every key)."""
from __future__ import annotations

import argparse
import importlib

# kind -> (module, dataclass) of the top-level options
KINDS = {"search": ("srnas.config.search", "SearchOptions"),
         "train": ("srnas.config.train", "TrainOptions"),
         "study": ("srnas.config.study", "StudyOptions")}


def register(sub: argparse._SubParsersAction) -> None:
    sp = sub.add_parser("options", help="print the commented option reference of an option-file kind")
    sp.add_argument("kind", choices=sorted(KINDS))
    sp.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from srnas.config.schema import reference

    module, name = KINDS[args.kind]
    print("\n".join(reference(getattr(importlib.import_module(module), name))))
    return 0
