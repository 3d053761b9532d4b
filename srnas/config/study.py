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
    reuse: Optional[str] = bounded(None, doc="a finished search folder per search seed, '{seed}' in the path (e.g. "
                                   "experiments/controls/agreement_sac_s{seed}): used instead of running the search "
                                   "when its options.yml equals this search's (name, path, logger, device and "
                                   "datasets.val aside); else an error")

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
    seeds: Optional[tuple[int, ...]] = bounded(None, doc="search seeds (manual_seed): the search of seeds[k] is "
                                               "retrained with the study's seeds[k] only (one paired unit per seed); "
                                               "null: one search (the file's seed), retrained with every seed")
    keep_depth: bool = bounded(False, doc="search at the file's network_g.num_block (else the space's num_block)")


@dataclass(frozen=True, kw_only=True)
class RandomBaseline:
    n: int = bounded(3, ge=0, doc="uniform random genotypes (srnas sample; width refitted to the budget)")
    seed: int = bounded(0, ge=0, doc="sampling seed")
    retrain: Literal["all", "one"] = bounded("all", doc="all: every draw with every seed; one: draw i with "
                                             "seeds[i mod len(seeds)] (the draws of a seed are that unit's sample)")


@dataclass(frozen=True, kw_only=True)
class RandomSearch:
    """Random search at the cost of one search (Li and Talwalkar 2019): random genotypes trained briefly one after
    the other until the wall time of a search is spent, the best by PSNR on a held-out split kept and retrained."""

    seeds: tuple[int, ...] = bounded(doc="one random search per seed; the one of seeds[k] is retrained with the "
                                     "study's seeds[k]")
    seconds: Optional[float] = bounded(None, gt=0, doc="wall-time budget of each; null: the mean wall time of this "
                                       "space's searches")
    iters: int = bounded(150, ge=1, doc="training iterations per candidate (the retraining recipe, shortened)")
    hr_dir: str = bounded("datasets/T91", doc="images of both splits (not a reported benchmark set)")
    train_range: tuple[int, int] = bounded([1, 72], doc="1-based image range the candidates train on")
    val_range: tuple[int, int] = bounded([73, 91], doc="held-out range that ranks them (whole images, Y PSNR)")
    max_candidates: int = bounded(500, ge=1, doc="stop after this many even when time is left")


@dataclass(frozen=True, kw_only=True)
class HandDesigned:
    name: str = bounded(doc="row name, e.g. IMDN")
    genotype: str = bounded(doc="genotype JSON (its ops and connections; the width is refitted)")
    published_nas: bool = bounded(False, doc="a published NAS result (the released DLSR cell), not hand-designed: "
                                  "reported as 'published NAS cell'")

    def __post_init__(self) -> None:
        _check_name("name", self.name)


@dataclass(frozen=True, kw_only=True)
class SpaceStudy:
    space: str = bounded(doc="search space (a registered one: imdn, dlsr)")
    params_budget: int = bounded(ge=1, doc="every architecture is retrained at the widest num_feat within this")
    num_block: int = bounded(6, ge=1, doc="IMD blocks / DLSR cells of every architecture (and of the supernets)")
    params_tolerance: Optional[float] = bounded(None, gt=0, le=0.5, doc="null: widest num_feat within the budget at "
                                                "num_block; a fraction (0.03): num_feat and num_block fitted jointly "
                                                "to within +- this of the budget, num_block nearest first")
    num_block_range: tuple[int, int] = bounded([4, 8], doc="depths allowed with params_tolerance")
    search: SearchStage = bounded(doc="searches of this space")
    random: RandomBaseline = field(default_factory=RandomBaseline)
    random_search: Optional[RandomSearch] = bounded(None, doc="random search at equal cost (null: none)")
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
class Stability:
    seeds: tuple[int, ...] = bounded([0], doc="the runs of these retraining seeds are also trained `factor` times "
                                     "longer; Kendall tau between the two rankings (primary metric) is reported")
    factor: int = bounded(2, ge=2, doc="how many times longer")


@dataclass(frozen=True, kw_only=True)
class Statistics:
    primary: tuple[str, ...] = bounded([], doc="the primary metric, declared before running: mean PSNR over these "
                                       "sets ([]: all bench.datasets)")
    bootstrap: int = bounded(10000, ge=100, doc="bootstrap resamples of the paired differences (over units)")
    level: float = bounded(0.95, gt=0, le=0.999, doc="interval level")
    seed: int = bounded(0, ge=0, doc="bootstrap RNG seed")
    fail_margin: float = bounded(0.0, ge=0, doc="a training fails below bicubic minus this many dB (0: below bicubic)")
    retries: int = bounded(2, ge=0, doc="a failed training (below bicubic on a primary set, or non-finite) is "
                           "retried with seed + 1000 x attempt, at most this often; it is never ranked")


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
    stats: Statistics = field(default_factory=Statistics)
    stability: Optional[Stability] = bounded(None, doc="rank stability check (null: none)")
    protocol: tuple[str, ...] = bounded([], doc="the protocol as written before running, copied into the report")

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
        for k in self.stats.primary:
            if k not in self.bench.datasets:
                raise SrnasError(f"stats.primary: {k!r} is not one of bench.datasets {list(self.bench.datasets)}")
        for i, s in enumerate(self.spaces):
            for what, seeds in (("search.seeds", s.search.seeds),
                                ("random_search.seeds", s.random_search.seeds if s.random_search else None)):
                if seeds is not None and (len(seeds) > len(self.seeds) or len(set(seeds)) != len(seeds)):
                    raise SrnasError(f"spaces[{i}].{what}: at most {len(self.seeds)} distinct seeds (one per "
                                     f"retraining seed), got {list(seeds)}")
            lo, hi = s.num_block_range
            if s.params_tolerance is not None and not 1 <= lo <= s.num_block <= hi:
                raise SrnasError(f"spaces[{i}].num_block_range: need 1 <= low <= num_block ({s.num_block}) <= high, "
                                 f"got {[lo, hi]}")
        if self.stability is not None and not set(self.stability.seeds) <= set(self.seeds):
            raise SrnasError(f"stability.seeds: must be among seeds {list(self.seeds)}, got "
                             f"{list(self.stability.seeds)}")
        for k, v in self.bench.max_images.items():
            if k not in self.bench.datasets or isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise SrnasError(f"bench.max_images: expected {{set of bench.datasets: images >= 1}}, got {k}: {v!r}")


def load_study_options(path: str | Path, overrides: list[str] | None = None) -> tuple[StudyOptions, dict]:
    """Read, override and validate a study option file. Returns the typed options and the raw (merged) dict."""
    raw = apply_overrides(read_yaml(path), overrides or [])
    return build(StudyOptions, raw, source=str(path)), raw
