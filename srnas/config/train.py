"""The retraining option file (``srnas train -opt``), in BasicSR's shape (``network_g``, ``datasets.train/val``,
``train.optim_g/scheduler``, ``path.pretrain_network_g``, ``logger``); recipes in ``options/train/``.

``network_g`` is validated by building the network with :func:`srnas.archs.create_model` at load time, so a bad
genotype file, an unknown op or an argument the arch does not take fails before any output, naming
``network_g.<key>``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, Optional

from torch import nn

from srnas.config.common import Device, HRFolder, Logger, Optim, Paths, Scheduler, ValSet, check_experiment_name
from srnas.config.schema import apply_overrides, bounded, build, read_yaml
from srnas.config.search import Loss
from srnas.errors import SrnasError

ESA_MIN_LQ = 15  # DLSR's ESA: stride-2 conv then a 7x7 stride-3 max-pool need at least 15 LR pixels


@dataclass(frozen=True, kw_only=True)
class NetworkOpt:
    """``network_g``: a registered arch (``type`` + its constructor arguments, as BasicSR) or a genotype file."""

    type: Optional[Literal["imdn", "dlsr"]] = bounded(None, doc="registered arch; null: the genotype's space")
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
class TrainOptions:
    name: str = bounded(doc="experiment name: outputs go to <experiments_root>/<name>")
    scale: int = bounded(2, ge=1, le=8)
    manual_seed: int = bounded(0, ge=0)
    device: Device = "auto"
    network_g: NetworkOpt = bounded(doc="the network to train")
    datasets: TrainData = bounded(doc="training split and validation set")
    train: TrainCfg = bounded(doc="optimization")
    logger: Logger = field(default_factory=Logger)
    path: TrainPaths = field(default_factory=TrainPaths)

    def __post_init__(self) -> None:
        check_experiment_name(self.name)
        if self.path.pretrain_skip_upsampler and self.path.pretrain_network_g is None:
            raise SrnasError("path.pretrain_skip_upsampler: needs path.pretrain_network_g")
        model = build_network(self.network_g, self.scale)  # fail on a bad network_g now, not after data loading
        if model.srnas_config["arch"] == "dlsr" and self.datasets.train.lq_patch < ESA_MIN_LQ:
            raise SrnasError(f"datasets.train.lq_patch: dlsr networks need LR patches of at least {ESA_MIN_LQ} "
                             f"pixels (ESA), got {self.datasets.train.lq_patch}")


def build_network(net: NetworkOpt, scale: int) -> nn.Module:
    """The network ``network_g`` describes, at ``scale`` (random init). Errors name ``network_g.<key>``."""
    from srnas.archs import Genotype, create_model
    from srnas.utils.experiment import resolve_path

    geno = None
    if net.genotype is not None:
        try:
            geno = Genotype.load(resolve_path(net.genotype))
        except SrnasError as e:
            raise SrnasError(f"network_g.genotype: {e}") from None
    if net.type is None and geno is None:
        raise SrnasError("network_g.type: required unless network_g.genotype is given")
    kwargs = net.kwargs()
    try:
        return create_model(net.type, scale=scale, genotype=geno, **kwargs)
    except SrnasError as e:
        raise SrnasError(f"network_g.{_key_named(str(e), kwargs, geno is not None)}: {e}") from None
    except (ValueError, TypeError, RuntimeError) as e:  # a constructor rejecting a combination of sizes
        raise SrnasError(f"network_g: cannot build the network ({e.__class__.__name__}: {e})") from None


def _key_named(message: str, kwargs: dict, has_genotype: bool) -> str:
    """The ``network_g`` key a create_model error is about (the first argument it names)."""
    head = message.split(";")[0]  # not the list of accepted arguments that may follow
    for key in kwargs:
        if re.search(rf"\b{key.removesuffix('s')}s?\b", head):  # "unknown op ..." is about ops
            return key
    return "genotype" if has_genotype and "genotype" in message else "type"


def load_train_options(path: str | Path, overrides: list[str] | None = None) -> tuple[TrainOptions, dict]:
    """Read, override and validate a training option file. Returns the typed options and the raw (merged) dict."""
    raw = apply_overrides(read_yaml(path), overrides or [])
    return build(TrainOptions, raw, source=str(path)), raw
