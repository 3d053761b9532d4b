"""``create_model``: the one public factory of srnas networks (timm's ``create_model``, BasicSR's names), and
``build_network``: the network of an option file's ``network_g`` section, checked against its training data."""
from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from torch import nn

from srnas.archs.genotype import Genotype
from srnas.archs.weights import load_weights
from srnas.errors import SrnasError
from srnas.registry import ARCHS, SPACE_SPECS, must_be_one_of

if TYPE_CHECKING:
    from srnas.config.train import NetworkOpt

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


def build_network(net: "NetworkOpt", scale: int, lq_patch: Optional[int] = None,
                  source: Optional[str] = None) -> nn.Module:
    """The network ``network_g`` describes, at ``scale`` (random init): everything in ``network_g`` that needs the
    registry (arch name, constructor arguments, genotype file) is checked here, once, by building it.

    Args:
        net: the ``network_g`` section (:class:`srnas.config.train.NetworkOpt`).
        scale: SR factor.
        lq_patch: the training LR patch (``datasets.train.lq_patch``), checked against the network's smallest input.
        source: the option file, prefixed to error messages as the option loader does.

    Raises:
        SrnasError: one line naming ``network_g.<key>`` (or ``datasets.train.lq_patch``).
    """
    try:
        model = _build_network(net, scale)
        spec = SPACE_SPECS.get(model.srnas_config["arch"]) if model.srnas_config["arch"] in SPACE_SPECS else None
        if lq_patch is not None and spec is not None and lq_patch < spec.min_lq:
            raise SrnasError(f"datasets.train.lq_patch: {spec.name} networks need LR patches of at least "
                             f"{spec.min_lq} pixels ({spec.min_lq_why}), got {lq_patch}")
    except SrnasError as e:
        if source is None:
            raise
        raise SrnasError(f"{source}: {e}") from None
    return model


def _build_network(net: "NetworkOpt", scale: int) -> nn.Module:
    from srnas.utils.experiment import resolve_path

    if net.type is not None and net.type not in ARCHS:
        raise must_be_one_of("network_g.type", net.type, ARCHS.keys())
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
