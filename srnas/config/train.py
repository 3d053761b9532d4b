"""The retraining option file (``srnas train -opt``), in BasicSR's shape (``network_g``, ``datasets.train/val``,
``train.optim_g/scheduler``, ``path.pretrain_network_g``, ``logger``); recipes in ``options/train/``.

``network_g`` is checked where it is built, by :func:`srnas.archs.build_network` (arch name, constructor arguments,
genotype file, the smallest LR patch of the arch), which the training run calls before it writes anything; errors
name ``network_g.<key>``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, Optional

from srnas.config.common import HRFolder, Logger, Loss, Optim, Paths, RunOptions, Scheduler, ValSet
from srnas.config.schema import apply_overrides, bounded, build, read_yaml
from srnas.errors import SrnasError


@dataclass(frozen=True, kw_only=True)
class NetworkOpt:
    """``network_g``: a registered arch (``type`` + its constructor arguments, as BasicSR) or a genotype file."""

    type: Optional[str] = bounded(None, doc="registered arch (imdn, dlsr); null: the genotype's space")
    genotype: Optional[str] = bounded(None, doc="genotype JSON (options/genotypes/*.json, a search's genotype.json)")
    num_feat: Optional[int] = bounded(None, ge=4, doc="arch default without genotype: imdn 64, dlsr 48")
    num_block: Optional[int] = bounded(None, ge=1, doc="IMD blocks / cells (arch default 6; fixed by a genotype)")
    ops: Optional[tuple[Any, ...]] = bounded(None, doc="op names per searchable position (or one list per block)")
    connections: Optional[tuple[tuple[int, ...], ...]] = bounded(None, doc="dlsr: inputs of cells 3..N")
    num_in_ch: Optional[int] = bounded(None, ge=1)
    num_out_ch: Optional[int] = bounded(None, ge=1)
    rgb_range: Optional[float] = bounded(None, gt=0, doc="range the net computes in (imdn 1, dlsr 255)")

    def kwargs(self) -> dict[str, Any]:
        """The constructor arguments that are set (tuples as lists, as YAML/JSON write them)."""
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name not in ("type", "genotype") and v is not None:
                out[f.name] = _lists(v)
        return out


def _lists(v: Any) -> Any:
    return [_lists(x) for x in v] if isinstance(v, (list, tuple)) else v


@dataclass(frozen=True, kw_only=True)
class TrainData:
    train: HRFolder = bounded(doc="training patches")
    val: Optional[ValSet] = bounded(None, doc="benchmark validation: PSNR/SSIM, keeps the best model")


@dataclass(frozen=True, kw_only=True)
class TrainCfg:
    total_iter: int = bounded(ge=1, doc="iterations (the scheduler steps once per iteration)")
    optim_g: Optim = field(default_factory=lambda: Optim(lr=2e-4, weight_decay=0.0))  # IMDN brief §2.3
    scheduler: Scheduler = field(default_factory=Scheduler)
    loss: Loss = field(default_factory=Loss)
    ema_decay: Optional[float] = bounded(None, gt=0, doc="EMA of the weights (BasicSR 0.999); validated and saved")
    grad_clip: Optional[float] = bounded(None, gt=0, doc="clip the gradient norm (DLSR retraining: 50)")
    nonfinite: Literal["stop", "skip"] = bounded("stop", doc="a NaN/Inf loss or gradient stops the run or skips it")
    precision: Literal["fp32", "bf16", "fp16"] = bounded("fp32", doc="autocast dtype (fp16: CUDA, with loss scaling)")
    channels_last: bool = bounded(True, doc="NHWC memory format (CPU: 1.1-1.6x faster steps; same results to rounding)")

    def __post_init__(self) -> None:
        if self.ema_decay is not None and self.ema_decay >= 1:
            raise SrnasError(f"ema_decay: must be < 1, got {self.ema_decay}")


@dataclass(frozen=True, kw_only=True)
class TrainPaths(Paths):
    pretrain_network_g: Optional[str] = bounded(None, doc="weights to start from (model file or official checkpoint)")
    param_key_g: Optional[str] = bounded(None, doc="key of the state_dict in that file; null: model/params_ema/...")
    strict_load_g: bool = bounded(True, doc="false: load the tensors whose names and shapes match, skip the rest")
    pretrain_skip_upsampler: bool = bounded(False, doc="x3/x4 from x2 weights: everything except upsampler.*")


@dataclass(frozen=True, kw_only=True)
class TrainOptions(RunOptions):
    network_g: NetworkOpt = bounded(doc="the network to train")
    datasets: TrainData = bounded(doc="training split and validation set")
    train: TrainCfg = bounded(doc="optimization")
    logger: Logger = field(default_factory=Logger)
    path: TrainPaths = field(default_factory=TrainPaths)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.path.pretrain_skip_upsampler and self.path.pretrain_network_g is None:
            raise SrnasError("path.pretrain_skip_upsampler: needs path.pretrain_network_g")


def load_train_options(path: str | Path, overrides: list[str] | None = None) -> tuple[TrainOptions, dict]:
    """Read, override and validate a training option file. Returns the typed options and the raw (merged) dict."""
    raw = apply_overrides(read_yaml(path), overrides or [])
    return build(TrainOptions, raw, source=str(path)), raw
