"""``build_supernet``: the supernet of a search option set, after every check that needs the registries.

The option loader (:mod:`srnas.config.search`) only checks shapes and bounds; here the names it holds are looked up:
the space (``network_g.type``, :data:`srnas.registry.SPACES`), its candidates (``network_g.primitives``,
``search.alpha_init.bias_op``), the smallest LR patch of its networks (``datasets.<split>.lq_patch``) and the alpha
penalties (``search.regularizers``, :func:`srnas.search.regularizers.check_specs`). A search calls it before it writes
anything, so a bad option file fails with one line naming the key.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from torch import nn

from srnas.archs.space import SpaceSpec
from srnas.errors import SrnasError
from srnas.registry import SPACE_SPECS, SPACES, must_be_one_of

if TYPE_CHECKING:
    from srnas.config.search import SearchOptions


def check_search(opt: "SearchOptions", source: Optional[str] = None) -> SpaceSpec:
    """Check what ``opt`` names against the registries, without building anything; returns the space.

    Args:
        opt: loaded search options (:func:`srnas.config.search.load_search_options`).
        source: the option file, prefixed to error messages as the option loader does.

    Raises:
        SrnasError: one line naming the key (``network_g.type``, ``network_g.primitives``,
            ``datasets.<split>.lq_patch``, ``search.alpha_init.bias_op``, ``search.regularizers[i]...``).
    """
    try:
        return _check(opt)
    except SrnasError as e:
        if source is None:
            raise
        raise SrnasError(f"{source}: {e}") from None


def _check(opt: "SearchOptions") -> SpaceSpec:
    from srnas.search.regularizers import check_specs

    g = opt.network_g
    if g.type not in SPACES or g.type not in SPACE_SPECS:
        raise must_be_one_of("network_g.type", g.type, [n for n in SPACES.keys() if n in SPACE_SPECS])
    spec = SPACE_SPECS.get(g.type)
    if g.primitives is not None:
        bad = [p for p in g.primitives if p not in spec.ops]
        if bad or len(set(g.primitives)) != len(g.primitives) or len(g.primitives) < 2:
            raise SrnasError(f"network_g.primitives: need 2 or more distinct ops of the {spec.name} space; "
                             f"{'unknown: ' + ', '.join(bad) if bad else 'got ' + str(list(g.primitives))}; "
                             f"valid: {', '.join(spec.ops)}")
    for split in ("train", "arch"):
        lq_patch = getattr(opt.datasets, split).lq_patch
        if lq_patch < spec.min_lq:
            raise SrnasError(f"datasets.{split}.lq_patch: the {spec.name} space needs LR patches of at least "
                             f"{spec.min_lq} pixels ({spec.min_lq_why}), got {lq_patch}")
    primitives = tuple(g.primitives or spec.primitives)
    bias_op = opt.search.alpha_init.bias_op
    if bias_op is not None and bias_op not in primitives:
        raise SrnasError(f"search.alpha_init.bias_op: {bias_op!r} is not a candidate of this supernet "
                         f"({', '.join(primitives)})")
    try:
        check_specs(opt.search.regularizers)
    except SrnasError as e:
        raise SrnasError(f"search.{e}") from None
    return spec


def build_supernet(opt: "SearchOptions", source: Optional[str] = None) -> nn.Module:
    """The supernet of ``network_g`` at ``opt.scale`` (alphas not yet initialised: ``init_alphas``), after
    :func:`check_search`.

    Args:
        opt: loaded search options.
        source: the option file, prefixed to error messages.

    Raises:
        SrnasError: a name the registries do not hold, or sizes the supernet cannot be built with (``network_g``).
    """
    spec = check_search(opt, source)
    g = opt.network_g
    kw: dict[str, Any] = {"upscale": opt.scale, "partial_k": g.partial_k, "per_block_alphas": g.per_block_alphas,
                          "seed": opt.manual_seed, "impl": g.impl}
    if g.recompute:
        kw["recompute"] = True
    for key in ("num_feat", "num_block", "primitives"):
        if getattr(g, key) is not None:
            kw[key] = tuple(getattr(g, key)) if key == "primitives" else getattr(g, key)
    try:
        net = SPACES.get(spec.name)(**kw)
    except ValueError as e:
        raise SrnasError(f"{source + ': ' if source else ''}network_g: {e}") from None
    if g.fixed_scale:
        from srnas.search.mixed_op import MixedOp

        for m in net.modules():
            if isinstance(m, MixedOp):
                m.fix_scale()
    return net
