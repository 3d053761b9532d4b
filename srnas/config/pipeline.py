"""The pipeline option file (``srnas pipeline -opt``): search -> derive -> retrain -> bench -> export."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional

from srnas.config.common import check_experiment_name
from srnas.config.patch import OptionFile
from srnas.config.schema import apply_overrides, bounded, build, read_yaml


@dataclass(frozen=True, kw_only=True)
class BenchStage:
    datasets: tuple[str, ...] = bounded(["Set5"], doc="benchmark sets")
    data_root: str = bounded("datasets/benchmark")
    self_ensemble: bool = bounded(False, doc="also report the x8 self-ensemble PSNR/SSIM (test-time trick, 8x slower)")


@dataclass(frozen=True, kw_only=True)
class ExportStage:
    formats: tuple[Literal["onnx", "torchscript"], ...] = bounded(["onnx", "torchscript"])
    bench_exported: bool = bounded(True, doc="benchmark each exported file too (its PSNR must equal PyTorch's)")


@dataclass(frozen=True, kw_only=True)
class PipelineOptions:
    name: str = bounded(doc="outputs go to <experiments_root>/<name>/{search,train,export}")
    experiments_root: str = "experiments"
    search: OptionFile = bounded(doc="search stage")
    train: OptionFile = bounded(doc="retraining stage; its network_g becomes the searched genotype")
    bench: BenchStage = field(default_factory=BenchStage)
    export: ExportStage = field(default_factory=ExportStage)
    device: Optional[Literal["auto", "cpu", "cuda"]] = bounded(None, doc="overrides both stages' device")

    def __post_init__(self) -> None:
        check_experiment_name(self.name)


def load_pipeline_options(path: str | Path, overrides: list[str] | None = None) -> tuple[PipelineOptions, dict]:
    raw = apply_overrides(read_yaml(path), overrides or [])
    return build(PipelineOptions, raw, source=str(path)), raw
