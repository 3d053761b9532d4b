"""``create_model``: the one public factory of srnas networks (timm's ``create_model``, BasicSR's names)."""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Optional

from torch import nn

from srnas.archs.genotype import Genotype
from srnas.archs.weights import load_weights
from srnas.errors import SrnasError
from srnas.registry import ARCHS

GENOTYPE_FIELDS = ("num_feat", "num_block", "ops", "connections")  # what a genotype fixes in an arch constructor


def _as_genotype(genotype: Genotype | dict | str | Path | None) -> Optional[Genotype]:
    if genotype is None or isinstance(genotype, Genotype):
        return genotype
    if isinstance(genotype, dict):
        return Genotype.from_dict(genotype)
    return Genotype.load(genotype)


def _jsonable(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    return v


def create_model(name: Optional[str] = None, scale: int = 2, weights: str | Path | None = None,
                 genotype: Genotype | dict | str | Path | None = None, **kwargs: Any) -> nn.Module:
    """Build a registered network, optionally from a genotype and with weights.

    Args:
        name: a registered arch (``imdn``, ``dlsr``); None or ``"genotype"`` takes the arch from the genotype's space.
        scale: SR factor, passed to the constructor as ``upscale``.
        weights: checkpoint to load strictly (``archs.weights.load_weights``).
        genotype: a Genotype, its dict, or a genotype JSON file; it fixes num_feat, num_block, ops (and connections).
        **kwargs: other constructor arguments (e.g. ``num_feat=8``); None values are dropped so defaults apply.

    Returns:
        The model (RGB in [0, 1] -> RGB in [0, 1]) with ``model.srnas_config = {"arch", "scale", "kwargs",
        "genotype"}``, enough to rebuild it with ``create_model(arch, scale, genotype=genotype, **kwargs)``.
    """
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    geno = _as_genotype(genotype)
    if name in (None, "genotype"):
        if geno is None:
            raise SrnasError("create_model: an arch name or a genotype is required")
        name = geno.space
    elif geno is not None and geno.space != name:
        raise SrnasError(f"genotype: it describes the {geno.space!r} space, but the arch is {name!r}")
    cls = ARCHS.get(name)
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "upscale")]
    unknown = [k for k in kwargs if k not in accepted]
    if unknown:
        extra = " (use scale)" if "upscale" in unknown else ""
        raise SrnasError(f"{name}: unknown argument(s) {', '.join(unknown)}{extra}; accepted: {', '.join(accepted)}")
    if geno is not None:
        fixed = [k for k in kwargs if k in GENOTYPE_FIELDS]
        if fixed:
            raise SrnasError(f"{name}: {', '.join(fixed)} come(s) from the genotype; do not pass them too")
        model = cls.from_genotype(geno, upscale=scale, **kwargs)
    else:
        model = cls(upscale=scale, **kwargs)
    model.srnas_config = {"arch": name, "scale": scale, "kwargs": _jsonable(kwargs),
                          "genotype": None if geno is None else geno.to_dict()}
    if weights is not None:
        load_weights(model, weights)
    return model
