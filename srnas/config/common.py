"""Option sections shared by search and retraining (BasicSR's YAML shape: ``name``, ``scale``, ``manual_seed``,
``datasets.train/val``, ``logger``, ``path``).

Options hold names (``network_g.type``, ``regularizers[i].type``) as plain strings: the code that builds what a name
stands for checks it against its registry (``srnas.search.spaces.build_supernet``, ``srnas.archs.build_network``),
so loading an option file imports no network code.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

from srnas.config.schema import bounded
from srnas.errors import SrnasError


def check_experiment_name(name: str) -> None:
    """``name`` (a top-level option) becomes a folder under the experiments root: one plain folder name."""
    if not name or "/" in name or name in (".", ".."):
        raise SrnasError(f"name must be a plain folder name, got {name!r}")


@dataclass(frozen=True, kw_only=True)
class HRFolder:
    """A training split over a folder of HR images (DIV2K/DF2K/T91 layout)."""

    hr_dir: str = bounded(doc="folder of HR images (relative paths: to the current directory, then the repo)")
    lq_dir: Optional[str] = bounded(None, doc="optional LR folder (<stem>x<s>.png); default: MATLAB bicubic of HR")
    index_range: Optional[tuple[int, int]] = bounded(None, doc="1-based inclusive [first, last] of the sorted files")
    lq_patch: int = bounded(32, ge=4, doc="LR patch size (HR patch = lq_patch * scale)")
    batch_size: int = bounded(16, ge=1)
    num_workers: int = bounded(0, ge=0, doc="DataLoader worker processes")
    augment: bool = bounded(True, doc="random hflip, vflip and rot90")
    preload: bool = bounded(True, doc="decode all images (and make their LR) at start-up; false: read per item "
                                      "(big folders; give lq_dir or the LR is recomputed every time)")

    def __post_init__(self) -> None:
        if self.index_range is not None and not (1 <= self.index_range[0] <= self.index_range[1]):
            raise SrnasError(f"index_range must be [first, last] with 1 <= first <= last, got {list(self.index_range)}")


@dataclass(frozen=True, kw_only=True)
class ValSet:
    """Validation on a benchmark set (EDSR/BasicSR layout under ``root``)."""

    name: str = bounded("Set5", doc="benchmark set folder name")
    root: str = bounded("datasets/benchmark", doc="folder holding <name>/HR and <name>/LR_bicubic")
    every: int = bounded(500, ge=1, doc="validate every N iterations")


@dataclass(frozen=True, kw_only=True)
class Optim:
    """An optimizer (``torch.optim`` name)."""

    type: Literal["Adam", "AdamW", "SGD"] = "Adam"
    lr: float = bounded(1e-3, gt=0)
    weight_decay: Optional[float] = bounded(None, ge=0, doc="null: the method's default")
    betas: tuple[float, float] = (0.9, 0.999)
    momentum: float = bounded(0.9, ge=0, doc="SGD only")


@dataclass(frozen=True, kw_only=True)
class Scheduler:
    """Learning-rate schedule, stepped once per iteration (BasicSR convention)."""

    type: Literal["MultiStepLR", "CosineAnnealingLR", "constant"] = "MultiStepLR"
    milestones: tuple[int, ...] = bounded([], doc="MultiStepLR: iterations at which lr *= gamma")
    gamma: float = bounded(0.5, gt=0)
    eta_min: float = bounded(0.0, ge=0, doc="CosineAnnealingLR: final lr")


@dataclass(frozen=True, kw_only=True)
class Logger:
    print_freq: int = bounded(50, ge=1, doc="log a line every N iterations")
    save_checkpoint_freq: int = bounded(500, ge=1, doc="checkpoint every N iterations")
    keep_checkpoints: int = bounded(3, ge=1, doc="how many recent checkpoints to keep")
    use_tb_logger: bool = True


@dataclass(frozen=True, kw_only=True)
class Paths:
    experiments_root: str = bounded("experiments", doc="runs go to <experiments_root>/<name>")
    resume_state: Optional[str] = bounded(None, doc="a checkpoint to resume from (or use --resume)")


Device = Literal["auto", "cpu", "cuda"]


@dataclass(frozen=True, kw_only=True)
class Loss:
    hfen_weight: float = bounded(0.0, ge=0, doc="DLSR adds 0.2 * HFEN to L1; 0 = plain L1 (SA-DARTS)")


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """The head of a run's option file; search and train add ``network_g``, ``datasets``, their section, ``logger``
    and ``path`` (in that order, as the option reference prints them)."""

    name: str = bounded(doc="experiment name: outputs go to <experiments_root>/<name>")
    scale: int = bounded(2, ge=1, le=8)
    manual_seed: int = bounded(0, ge=0)
    device: Device = "auto"

    def __post_init__(self) -> None:
        check_experiment_name(self.name)
