"""The search option file (``srnas search -opt``). Sections and defaults follow the method notes (§1.7, §5.3-5.4).

What needs the registries (the space name, its primitives, the regularizer names and settings, the smallest LR patch
of the space) is checked by :func:`srnas.search.spaces.build_supernet`, which the search calls before it writes
anything.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional

from srnas.config.common import HRFolder, Logger, Loss, Optim, Paths, RunOptions, Scheduler, ValSet
from srnas.config.schema import apply_overrides, bounded, build, read_yaml
from srnas.errors import SrnasError


@dataclass(frozen=True, kw_only=True)
class SpaceOpt:
    """``network_g``: the supernet (a registered search space and its constructor arguments)."""

    type: str = bounded(doc="search space: a registered name (imdn, dlsr)")
    num_feat: Optional[int] = bounded(None, ge=4, doc="channels; null: the space's default (imdn 64, dlsr 48)")
    num_block: Optional[int] = bounded(None, ge=1, doc="IMD blocks / cells; null: 6")
    primitives: Optional[tuple[str, ...]] = bounded(None, doc="candidates (alpha columns); null: the space's list")
    partial_k: int = bounded(1, ge=1, doc="SAC partial channels: ops see C/K channels (1 = full DARTS mixed op)")
    per_block_alphas: bool = bounded(False, doc="one alpha per block instead of one shared by all blocks")
    impl: Literal["fast", "naive"] = bounded("fast", doc="mixed-op evaluation: fast (fused, exact to rounding) or naive")
    recompute: bool = bounded(False, doc="fast impl: recompute the cheap candidate heads in backward (about half the "
                              "peak memory for ~5-8% more time)")
    fixed_scale: bool = bounded(False, doc="fix each candidate's weight norms and learn one gain per position, so the "
                                "weights cannot undo alpha (MixedOp.fix_scale; search only)")

    def __post_init__(self) -> None:
        if self.recompute and self.impl != "fast":
            raise SrnasError("network_g.recompute: needs network_g.impl: fast (the naive loop keeps every activation)")


@dataclass(frozen=True, kw_only=True)
class Teacher:
    """A known-answer task (positive control): the targets are ``teacher(LR)`` (``srnas.search.teacher``)."""

    genotype: str = bounded(doc="genotype JSON of the teacher network (the supernet's space)")
    seed: int = bounded(0, ge=0, doc="seed of the teacher's weight initialisation")
    gain: float = bounded(4.0, gt=0, doc="multiplies the teacher's block-fusion conv so the blocks carry more of the "
                                         "output")


@dataclass(frozen=True, kw_only=True)
class SearchData:
    train: HRFolder = bounded(doc="weight split (w step)")
    arch: HRFolder = bounded(doc="architecture split (alpha step)")
    val: Optional[ValSet] = bounded(None, doc="benchmark validation of the supernet")
    teacher: Optional[Teacher] = bounded(None, doc="known-answer task: both splits' targets become teacher(LR)")

    def __post_init__(self) -> None:
        if self.teacher is not None and self.val is not None:
            raise SrnasError("datasets.val: a teacher task has no benchmark validation (the targets are not the HR "
                             "images); set datasets.val: null")


@dataclass(frozen=True, kw_only=True)
class AlphaInit:
    mode: Literal["random", "zeros", "negative", "biased"] = "random"
    std: float = bounded(1e-3, ge=0, doc="random part: std * randn (DARTS 1e-3)")
    offset: float = bounded(0.0, doc="negative mode: alpha = offset + std * randn")
    bias_op: Optional[str] = bounded(None, doc="biased mode: the op that gets +bias (e.g. skip_connect)")
    bias: float = bounded(0.1, doc="biased mode: added to bias_op's column")


@dataclass(frozen=True, kw_only=True)
class Sdarts:
    mode: Literal["rs", "adv"] = "rs"
    eps_min: float = bounded(0.03, ge=0)
    eps_max: float = bounded(0.3, ge=0)
    steps: int = bounded(7, ge=1, doc="adv: PGD steps")


@dataclass(frozen=True, kw_only=True)
class LambdaDarts:
    weight: float = bounded(0.125, ge=0, doc="lambda, ramped lambda * epoch / (E - 1)")
    eps0: float = bounded(1e-4, gt=0)


@dataclass(frozen=True, kw_only=True)
class Hessian:
    every_epochs: int = bounded(2, ge=1, doc="dominant eigenvalue of d2 L_val / d alpha2 every N epochs")
    early_stop: bool = bounded(False, doc="DARTS-ES: stop on an eigenvalue jump, derive from the earlier alpha")
    window: int = bounded(5, ge=1)
    factor: float = bounded(1.3, gt=1)
    delta: int = bounded(4, ge=1)
    start_epoch: int = bounded(10, ge=1)
    ada: bool = bounded(False, doc="DARTS-ADA: on the early-stop trigger roll back to the stop epoch and multiply "
                                   "optim_w.weight_decay by mul_factor instead of stopping (needs early_stop)")
    mul_factor: float = bounded(10.0, gt=1, doc="ada: weight-decay multiplier (R-DARTS default 3, scripts 10)")
    max_weight_decay: float = bounded(0.03, gt=0, doc="ada: cap; at the cap triggers are ignored (R-DARTS 0.03)")

    def __post_init__(self) -> None:
        if self.ada and not self.early_stop:
            raise SrnasError("hessian.ada: DARTS-ADA acts on the early-stop trigger; set hessian.early_stop: true")


@dataclass(frozen=True, kw_only=True)
class Decision:
    """When a position counts as decided (``srnas.search.decision``): stable top-1, logit gap above noise, and the
    chosen op's weight apart from uniform."""

    window: int = bounded(3, ge=1, doc="evaluations the top-1 op must hold (and over which the gap's noise is taken)")
    z: float = bounded(3.0, gt=0, doc="the top-1/top-2 logit gap must exceed z x noise")
    min_ratio: float = bounded(1.5, ge=1, doc="the top-1 weight must be at least min_ratio x uniform (1 / N_o)")


@dataclass(frozen=True, kw_only=True)
class SearchCfg:
    iters: int = bounded(ge=1, doc="total bi-level iterations")
    epoch_length: int = bounded(1000, ge=1, doc="iterations per search epoch (lambda_e schedules; DLSR ~1000)")
    penalty_schedule: Literal["epoch", "iteration"] = bounded(
        "epoch", doc="epoch: penalty coefficients step once per epoch (the papers: lambda_e = e/5, constant within an "
        "epoch); iteration: they grow every iteration, epoch = (t + 1) / epoch_length (the same ramp without steps)")
    warmup_epochs: int = bounded(0, ge=0, doc="epochs with alpha frozen (w only)")
    warmup_iters: int = bounded(0, ge=0, doc="iterations with alpha frozen (w only), for runs shorter than an epoch; "
                                           "not together with warmup_epochs")
    weight_paths: Literal["mixture", "single", "single_warmup"] = bounded(
        "mixture", doc="what the weight step trains: mixture: the softmax mixture (DARTS); single: one uniformly drawn "
        "candidate per position (SPOS; deviation, srnas.search.single_path); single_warmup: single during the "
        "warm-up, then the mixture")
    order: Literal["darts", "dlsr"] = bounded("darts", doc="darts: Algorithm 1 (alpha on L_val, then w); "
                                              "dlsr: w first, alpha on L_train + L_val")
    alpha_init: AlphaInit = field(default_factory=AlphaInit)
    optim_w: Optim = field(default_factory=lambda: Optim(lr=5e-4, weight_decay=1e-8))
    optim_alpha: Optim = field(default_factory=lambda: Optim(lr=3e-4, betas=(0.5, 0.999)))
    scheduler: Scheduler = field(default_factory=Scheduler)
    scheduler_alpha: Scheduler = bounded(Scheduler(type="constant"), doc="alpha learning-rate schedule, per alpha "
                                         "step from the end of the warm-up (constant: DARTS/DLSR; SA-DARTS' NB201 "
                                         "setup anneals it, cosine)")
    loss: Loss = field(default_factory=Loss)
    regularizers: tuple[dict, ...] = bounded([], doc="alpha penalties: [{type: sa, nu: 1.0}, {type: flops}, ...]")
    regularize_betas: bool = bounded(False, doc="apply the alpha penalties to DLSR's network-level betas too")
    sdarts: Optional[Sdarts] = None
    lambda_darts: Optional[LambdaDarts] = None
    hessian: Optional[Hessian] = None
    grad_clip: Optional[float] = bounded(None, gt=0, doc="clip the weight gradient norm")
    drop_path: float = bounded(0.0, ge=0, le=0.9, doc="R-DARTS(DP): drop each mixed-op output per sample with "
                                                      "p * (e-1) / (E-1) in training mode (0 = off)")
    nonfinite: Literal["stop", "skip"] = bounded("stop", doc="a NaN/Inf loss stops the run, or skips the batch")
    precision: Literal["fp32", "bf16", "fp16"] = bounded("fp32", doc="autocast dtype (fp16: CUDA, loss scaling)")
    decision: Decision = field(default_factory=Decision)
    record_every: Optional[int] = bounded(None, ge=1, doc="alphas.jsonl record and decision check every N iterations; "
                                          "null: datasets.val.every, or epoch_length without a val set")

    def __post_init__(self) -> None:
        if self.warmup_epochs and self.warmup_iters:
            raise SrnasError("search.warmup_iters: give the warm-up in epochs or in iterations, not both")
        if self.weight_paths != "mixture" and (self.sdarts or self.lambda_darts):
            raise SrnasError("search.weight_paths: single-path weight steps do not combine with sdarts or lambda_darts")

    def penalty_epoch(self, step: int) -> float:
        """The epoch the penalty schedules see at 0-based iteration ``step``."""
        if self.penalty_schedule == "iteration":
            return (step + 1) / self.epoch_length
        return step // self.epoch_length + 1

    @property
    def warmup_steps(self) -> int:
        """Iterations with alpha frozen (Algorithm 1 warm-up)."""
        return self.warmup_epochs * self.epoch_length + self.warmup_iters

    @property
    def num_epochs(self) -> int:
        return -(-self.iters // self.epoch_length)

    def has(self, reg: str) -> bool:
        return any(s.get("type") == reg for s in self.regularizers)

    @property
    def alpha_weight_decay(self) -> float:
        """SA/SAC runs remove the alpha weight decay (SA-DARTS §6.2; method notes §1.6); baselines use 1e-8 (SR)."""
        if self.optim_alpha.weight_decay is not None:
            return self.optim_alpha.weight_decay
        return 0.0 if self.has("sa") else 1e-8


@dataclass(frozen=True, kw_only=True)
class SearchOptions(RunOptions):
    network_g: SpaceOpt = bounded(doc="the supernet")
    datasets: SearchData = bounded(doc="weight split, architecture split, validation")
    search: SearchCfg = bounded(doc="bi-level loop")
    logger: Logger = field(default_factory=Logger)
    path: Paths = field(default_factory=Paths)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.search.hessian and self.search.hessian.early_stop and self.search.num_epochs < 2:
            raise SrnasError("search.hessian.early_stop needs at least 2 epochs")
        if self.search.drop_path > 0 and self.search.lambda_darts:
            raise SrnasError("search.drop_path: does not combine with search.lambda_darts (its finite-difference "
                             "passes would draw different drop masks)")


def load_search_options(path: str | Path, overrides: list[str] | None = None) -> tuple[SearchOptions, dict]:
    """Read, override and validate a search option file. Returns the typed options and the raw (merged) dict."""
    raw = apply_overrides(read_yaml(path), overrides or [])
    return build(SearchOptions, raw, source=str(path)), raw
