"""The study option file (``srnas study -opt``): searched vs random vs hand-designed architectures, one recipe.

For each space: one search per method (DARTS, SA, SAC by default) from a base search option file plus per-method
overrides, ``random.n`` uniform random genotypes, and the hand-designed genotypes; every one is refitted to the
space's parameter budget (widest ``num_feat``, a multiple of 4, within it), retrained with the same train option
file, overrides, iterations and seeds, and benchmarked. Outputs: ``<experiments_root>/<name>/``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional

from srnas.config.common import check_experiment_name
from srnas.config.patch import OptionFile
from srnas.config.schema import apply_overrides, bounded, build, read_yaml
from srnas.errors import SrnasError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


def _check_name(what: str, name: str) -> None:
    if not _NAME.match(name):
        raise SrnasError(f"{what}: {name!r} must be letters, digits, '_' and '-' (it names folders)")


@dataclass(frozen=True, kw_only=True)
class Method:
    """One search method: overrides of the space's base search option file."""

    name: str = bounded(doc="folder and row name, e.g. sa")
    label: Optional[str] = bounded(None, doc="name in the report; null: name in upper case")
    set: tuple[str, ...] = bounded([], doc="overrides of the base search file, as --set key.path=value")

    def __post_init__(self) -> None:
        _check_name("name", self.name)

    @property
    def title(self) -> str:
        return self.label or self.name.upper()


# DARTS: no regularizer, full mixed op; SA: SA-DARTS Eq. 8; SAC: Eq. 8 + partial channels K = 4 (method notes §2)
DEFAULT_METHODS = [
    Method(name="darts", label="DARTS", set=("search.regularizers=[]", "network_g.partial_k=1")),
    Method(name="sa", label="SA", set=("search.regularizers=[{type: sa}]", "network_g.partial_k=1")),
    Method(name="sac", label="SAC", set=("search.regularizers=[{type: sa}]", "network_g.partial_k=4")),
]


@dataclass(frozen=True, kw_only=True)
class SearchStage:
    opt: str = bounded(doc="base search option file of this space (options/search/*.yml)")
    set: tuple[str, ...] = bounded([], doc="overrides applied to every method (e.g. search.iters=300)")
    methods: tuple[Method, ...] = bounded(DEFAULT_METHODS, doc="one search each; [] for no search")


@dataclass(frozen=True, kw_only=True)
class RandomBaseline:
    n: int = bounded(3, ge=0, doc="uniform random genotypes (srnas sample; width refitted to the budget)")
    seed: int = bounded(0, ge=0, doc="sampling seed")


@dataclass(frozen=True, kw_only=True)
class HandDesigned:
    name: str = bounded(doc="row name, e.g. IMDN")
    genotype: str = bounded(doc="genotype JSON (its ops and connections; the width is refitted)")

    def __post_init__(self) -> None:
        _check_name("name", self.name)


@dataclass(frozen=True, kw_only=True)
class SpaceStudy:
    space: str = bounded(doc="search space (a registered one: imdn, dlsr)")
    params_budget: int = bounded(ge=1, doc="every architecture is retrained at the widest num_feat within this")
    num_block: int = bounded(6, ge=1, doc="IMD blocks / DLSR cells of every architecture (and of the supernets)")
    search: SearchStage = bounded(doc="searches of this space")
    random: RandomBaseline = field(default_factory=RandomBaseline)
    hand_designed: Optional[tuple[HandDesigned, ...]] = bounded(
        None, doc="null: the space's own (its registry entry; imdn: IMDN all conv3; dlsr: the released DLSR x2 "
        "genotype)")
    train_set: tuple[str, ...] = bounded([], doc="extra overrides of the train file for this space's runs")


@dataclass(frozen=True, kw_only=True)
class StudyBench:
    datasets: tuple[str, ...] = bounded(["Set5", "Set14", "B100", "Urban100"], doc="benchmark sets")
    data_root: str = bounded("datasets/benchmark", doc="first folder searched for each set")
    fallback_roots: tuple[str, ...] = bounded(["../shared/data/benchmark"],
                                              doc="then these; a set found nowhere is skipped (noted in the report)")
    max_images: dict = bounded({}, doc="CPU-scale studies: {set: N} benchmarks the first N images (sorted names) "
                               "of that set, e.g. {Urban100: 20}; the report says so")
    ssim: bool = bounded(False, doc="also SSIM (slow on Urban100 on CPU)")
    weights: Literal["final", "best"] = bounded("final", doc="final: the weights after the last iteration (same "
                                                "budget for all); best: best validation PSNR")


@dataclass(frozen=True, kw_only=True)
class StudyOptions:
    name: str = bounded(doc="outputs go to <experiments_root>/<name>/")
    experiments_root: str = "experiments"
    scale: int = bounded(2, ge=1, le=8, doc="SR factor of every search and run")
    seeds: tuple[int, ...] = bounded([0, 1], doc="retraining seeds (the same for every architecture)")
    device: Optional[Literal["auto", "cpu", "cuda"]] = bounded(None, doc="overrides every search and run")
    spaces: tuple[SpaceStudy, ...] = bounded(doc="one entry per search space")
    train: OptionFile = bounded(doc="the one retraining recipe (options/train/*.yml); network_g becomes each genotype")
    bench: StudyBench = field(default_factory=StudyBench)

    def __post_init__(self) -> None:
        check_experiment_name(self.name)
        if not self.seeds or len(set(self.seeds)) != len(self.seeds) or min(self.seeds) < 0:
            raise SrnasError(f"seeds: need one or more distinct seeds >= 0, got {list(self.seeds)}")
        if not self.spaces:
            raise SrnasError("spaces: list at least one space")
        spaces = [s.space for s in self.spaces]
        if len(set(spaces)) != len(spaces):
            raise SrnasError(f"spaces: each space once, got {spaces}")
        if not self.bench.datasets:
            raise SrnasError("bench.datasets: list at least one set")
        for k, v in self.bench.max_images.items():
            if k not in self.bench.datasets or isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise SrnasError(f"bench.max_images: expected {{set of bench.datasets: images >= 1}}, got {k}: {v!r}")


def load_study_options(path: str | Path, overrides: list[str] | None = None) -> tuple[StudyOptions, dict]:
    """Read, override and validate a study option file. Returns the typed options and the raw (merged) dict."""
    raw = apply_overrides(read_yaml(path), overrides or [])
    return build(StudyOptions, raw, source=str(path)), raw
