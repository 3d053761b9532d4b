"""Alpha penalties added to L_val in the architecture step (SA-DARTS Algorithm 1, line 6).

Each penalty is one function ``fn(alphas, epoch, num_epochs, **settings) -> scalar tensor`` registered in
:data:`srnas.registry.REGULARIZERS` under its option name. ``alphas`` are the raw op logits, one ``(N_e, N_o)`` tensor
or a list of them (one per block when alpha is per block); the rows are concatenated. ``epoch`` counts from 1, as in
Algorithm 1 (``e in [1, E]``). Each schedule sits inside its function, next to the equation it scales.
"""
from __future__ import annotations

import inspect
from typing import Any, Mapping, Optional, Sequence, Union

import torch
from torch import Tensor

from srnas.errors import SrnasError
from srnas.registry import REGULARIZERS

Alphas = Union[Tensor, Sequence[Tensor]]


def _rows(alphas: Alphas, what: str = "alphas") -> Tensor:
    """Stack one tensor or a list of tensors into one ``(N_e, N_o)`` matrix (a 1-D tensor is one row)."""
    parts = [alphas] if isinstance(alphas, Tensor) else list(alphas)
    if not parts:
        raise SrnasError(f"regularizer {what}: got an empty list")
    parts = [p.unsqueeze(0) if p.dim() == 1 else p for p in parts]
    if any(p.dim() != 2 for p in parts) or len({p.shape[1] for p in parts}) != 1:
        shapes = [tuple(p.shape) for p in parts]
        raise SrnasError(f"regularizer {what}: need (N_e, N_o) tensors with the same N_o, got shapes {shapes}")
    return torch.cat(parts, dim=0)


@REGULARIZERS.register("sa")
def sa_loss(alphas: Alphas, epoch: int, num_epochs: int, *, nu: float = 1.0, mu: float = 1.0,
            lambda_slope: float = 0.2, lambda_const: float | None = None) -> Tensor:
    """SA-DARTS regulariser, general erf form (SA-DARTS Eq. 7; Eq. 8 when ``nu = 1``).

    ``L_SA = lambda_e / (N_o N_e) * sum_ij [(1+nu) a_ij + (1-nu) a_ij erf(mu (1-nu) a_ij)] / 2`` on the raw logits.
    ``nu = 1`` (default) gives ``lambda_e * mean(alpha)`` (Eq. 8); ``nu = 0, mu = 1/sqrt(2)`` is GELU-SA; ``mu = 1e6`` a
    smooth LeakyReLU of slope ``nu`` (finite, no NaN: the erf saturates). See method notes §1.3-1.5.

    Args:
        alphas: raw op logits, ``(N_e, N_o)`` or a list of such tensors (rows concatenated).
        epoch: search epoch, counted from 1.
        num_epochs: total search epochs (unused: the schedule has no cap).
        nu: negative slope of the Maxout-type activation.
        mu: smoothness at the origin (irrelevant when ``nu = 1``).
        lambda_slope: ``lambda_e = lambda_slope * epoch`` (paper: ``epoch / 5``; method notes §1.5).
        lambda_const: if given, a constant ``lambda_e`` replacing the schedule.

    Returns:
        Scalar tensor.
    """
    a = _rows(alphas)
    # SA-DARTS §5 "lambda_e = epoch/5": linear in the 1-based epoch, no cap, constant within an epoch
    lam = lambda_slope * epoch if lambda_const is None else lambda_const
    # SA-DARTS Eq. 7: f(a) = [(1+nu) a + (1-nu) a erf(mu (1-nu) a)] / 2, averaged over N_e * N_o
    f = 0.5 * ((1 + nu) * a + (1 - nu) * a * torch.erf(mu * (1 - nu) * a))
    return lam * f.mean()


@REGULARIZERS.register("l2")
def l2_loss(alphas: Alphas, epoch: int, num_epochs: int, *, weight: float = 5e-4) -> Tensor:
    """DARTS + L2 baseline: ``lambda_2 * sum alpha^2`` (SA-DARTS §3 baselines; method notes §3).

    Args:
        alphas: raw op logits, ``(N_e, N_o)`` or a list of them.
        epoch, num_epochs: unused (constant weight).
        weight: ``lambda_2``. Default 5e-4: DARTS' Adam weight decay 1e-3 on alpha acts as ``lambda_2 = wd / 2``.

    Returns:
        Scalar tensor.
    """
    return weight * _rows(alphas).pow(2).sum()


@REGULARIZERS.register("beta_decay")
def beta_decay_loss(alphas: Alphas, epoch: int, num_epochs: int, *, lambda_max: float = 50.0,
                    schedule: str = "linear") -> Tensor:
    """Beta-DARTS beta-decay: ``lambda_t * mean_edges logsumexp_ops(alpha)`` (brief §4.3, ``mlc_loss``).

    Its gradient is ``lambda_t * softmax(alpha) / N_e``, a decay on the activated weights.

    Args:
        alphas: raw op logits, ``(N_e, N_o)`` or a list of them.
        epoch: search epoch, counted from 1.
        num_epochs: total search epochs ``E``.
        lambda_max: the coefficient reached at the last epoch (linear) or used throughout (constant).
        schedule: ``"linear"``: ``lambda_t = lambda_max * epoch / E`` (method notes §3 [I]);
            ``"constant"``: ``lambda_t = lambda_max``.

    Returns:
        Scalar tensor.
    """
    if schedule == "linear":
        # deviation: the official NB201 code uses 50 * epoch / 100 with epoch from 0 (0 .. 49.5); srnas counts epochs
        # from 1, so lambda_t runs lambda_max / E .. lambda_max (method notes §3 "use 50 * e / E")
        lam = lambda_max * epoch / num_epochs
    elif schedule == "constant":
        lam = lambda_max
    else:
        raise SrnasError(f"regularizer beta_decay: schedule must be 'linear' or 'constant', got {schedule!r}")
    # Beta-DARTS mlc_loss: mean over edges of the log-sum-exp over ops, on raw alpha
    return lam * torch.logsumexp(_rows(alphas), dim=1).mean()


def _cost_matrix(costs: Any, like: Tensor) -> Tensor:
    """Costs as a ``(N_e, N_o)`` tensor matching ``like``; a single ``(N_o,)`` row applies to every row."""
    if isinstance(costs, (list, tuple)) and costs and all(isinstance(c, Tensor) for c in costs):
        c = _rows(costs, "flops costs")
    else:
        c = torch.as_tensor(costs)
    c = c.to(dtype=like.dtype, device=like.device)
    if c.dim() == 1 and c.shape[0] == like.shape[1]:
        c = c.expand_as(like)
    if c.shape != like.shape:
        raise SrnasError(f"regularizer flops: costs shape {tuple(c.shape)} does not match alphas {tuple(like.shape)}")
    if (c < 0).any() or (c.sum(dim=1) <= 0).any():
        raise SrnasError("regularizer flops: costs must be >= 0 with a positive sum in every row")
    return c


@REGULARIZERS.register("flops")
def flops_loss(alphas: Alphas, epoch: int, num_epochs: int, *, costs: Any, norm: str = "position",
               weight: float = 1.0) -> Tensor:
    """FLOPs-constrained search: ``lambda_F * sum_i softmax(alpha)_i c_i / sum c`` (SA-DARTS Eq. 18; notes §4).

    Args:
        alphas: raw op logits, ``(N_e, N_o)`` or a list of them (one row per conv position).
        epoch, num_epochs: unused (the paper gives no schedule; ``lambda_F`` is constant [I]).
        costs: MACs per LR pixel of each candidate, ``(N_e, N_o)`` (tensor, nested list or list of tensors), or one
            ``(N_o,)`` row shared by all positions. Measured by the caller (fvcore); the resolution cancels.
        norm: ``"position"``: normalise each row by its own ``sum c`` and sum over rows (the form of DLSR's params
            loss, notes §4 [I]); ``"global"``: normalise by the total ``sum c`` over all positions and candidates.
        weight: ``lambda_F``.

    Returns:
        Scalar tensor; uniform alphas give ``N_e / N_o`` (position) or ``1 / N_o`` (global).
    """
    a = _rows(alphas)
    c = _cost_matrix(costs, a)
    beta = torch.softmax(a, dim=1)  # SA-DARTS Eq. 1
    if norm == "position":
        loss = (beta * c / c.sum(dim=1, keepdim=True)).sum()  # SA-DARTS Eq. 18 per position, summed
    elif norm == "global":
        loss = (beta * c).sum() / c.sum()
    else:
        raise SrnasError(f"regularizer flops: norm must be 'position' or 'global', got {norm!r}")
    return weight * loss


@REGULARIZERS.register("latency")
def latency_loss(alphas: Alphas, epoch: int, num_epochs: int, *, costs: Any, fixed_ms: float = 0.0, table: str = "",
                 weight: float = 1.0, target_ms: Optional[float] = None, temperature: float = 1.0,
                 derived: bool = False, two_sided: bool = False) -> Tensor:
    """Expected latency of the derived network from a measured lookup table (the ProxylessNAS and FBNet form):
    ``E[LAT] = fixed_ms + sum_ij softmax(alpha)_ij c_ij``, differentiable in alpha (unlike a cost computed from a
    detached copy of alpha, as DLSR's public params penalty is).

    Args:
        alphas: raw op logits, ``(N_e, N_o)`` or a list of them (one row per position, blocks stacked).
        epoch, num_epochs: unused (constant weight).
        costs: milliseconds of each candidate, one row per alpha row (shared alphas: already times ``num_block``)
            or one ``(N_o,)`` row for every position;
            filled from ``table`` by the search loop (``srnas.latency.penalty.latency_costs``).
        fixed_ms: the rest of the derived network (head, block skeletons, tail, overhead), in ms.
        table: the latency table file (``srnas latency build``); read by the search loop, unused here.
        weight: the penalty coefficient.
        target_ms: ``None``: weight form, ``weight * E[LAT] / E_uniform`` (1 at uniform alphas); a number: target
            form, ``weight * max(0, E[LAT] / target_ms - 1)``, zero at or below the target latency.
        temperature: the expectation is taken under ``softmax(alpha / temperature)``; below 1 it follows the argmax
            (derived) network more closely as alpha separates (FBNet anneals a softmax temperature for the same end).
        derived: the value is the latency of the derived network (the per-row argmax, SA-DARTS Eq. 2) and the
            gradient that of the expectation (straight-through, as ProxylessNAS' binarized paths): the target form
            then acts exactly while the network that will be derived is over the target, however close to uniform
            softmax(alpha) still is (deviation: neither paper penalizes the argmax network).
        two_sided: target form only: ``weight * |E[LAT] / target_ms - 1|`` (TuNAS' absolute-value latency reward),
            which also pulls a network that is faster than the target back towards it.

    Returns:
        Scalar tensor.
    """
    a = _rows(alphas)
    c = torch.as_tensor(costs).to(dtype=a.dtype, device=a.device)
    if c.dim() == 1 and c.shape[0] == a.shape[1]:
        c = c.expand_as(a)  # one row shared by every position
    if c.shape != a.shape:
        raise SrnasError(f"regularizer latency: costs shape {tuple(c.shape)} does not match alphas {tuple(a.shape)}")
    if temperature <= 0:
        raise SrnasError(f"regularizer latency: temperature must be > 0, got {temperature}")
    probs = torch.softmax(a / temperature, dim=1)
    if derived:  # value: the argmax network's latency; gradient: the expectation's (straight-through)
        hard = torch.nn.functional.one_hot(probs.argmax(dim=1), probs.shape[1]).to(probs.dtype)
        probs = hard + probs - probs.detach()
    expected = fixed_ms + (probs * c).sum()  # ProxylessNAS / FBNet: E[latency]
    if target_ms is None:
        uniform = fixed_ms + c.mean(dim=1).sum()
        if uniform <= 0:
            raise SrnasError("regularizer latency: the expected latency at uniform alphas must be > 0")
        return weight * expected / uniform
    if target_ms <= 0:
        raise SrnasError(f"regularizer latency: target_ms must be > 0, got {target_ms}")
    gap = expected / target_ms - 1.0
    return weight * (gap.abs() if two_sided else torch.relu(gap))


def alpha_loss(alphas: Alphas, epoch: int, num_epochs: int, specs: Sequence[tuple[str, Mapping[str, Any]]],
               keep_graph: bool = False) -> tuple[Tensor, dict[str, Tensor]]:
    """Sum of the configured alpha penalties (the alpha step adds ``total`` to L_val; notes §1.5: lambda_e once).

    Args:
        alphas: raw op logits, ``(N_e, N_o)`` or a list of them.
        epoch: search epoch, counted from 1.
        num_epochs: total search epochs.
        specs: ``[(name, settings), ...]``; each name is looked up in ``REGULARIZERS`` (unknown name or setting:
            :class:`SrnasError`).
        keep_graph: return the terms attached to the graph (to differentiate each on its own) instead of detached.

    Returns:
        ``(total, terms)``: the scalar sum (0 when ``specs`` is empty) and each term, by name (detached unless
        ``keep_graph``).
    """
    total = _rows(alphas).new_zeros(())
    terms: dict[str, Tensor] = {}
    for name, settings in specs:
        fn = REGULARIZERS.get(name)
        settings = dict(settings or {})
        if name in terms:
            raise SrnasError(f"regularizer {name!r}: listed twice")
        try:
            inspect.signature(fn).bind(alphas, epoch, num_epochs, **settings)
        except TypeError as err:
            accepted = [p.name for p in inspect.signature(fn).parameters.values() if p.kind is p.KEYWORD_ONLY]
            raise SrnasError(f"regularizer {name!r}: {err}; accepted settings: {', '.join(accepted)}") from None
        term = fn(alphas, epoch, num_epochs, **settings)
        terms[name] = term if keep_graph else term.detach()
        total = total + term
    return total, terms


def check_specs(specs: Sequence[Mapping[str, Any]]) -> None:
    """Check the ``search.regularizers`` entries of an option file against :data:`REGULARIZERS`: a known ``type``,
    only the settings its function takes (not the measured ``costs``/``fixed_ms``), scalar values, a latency table.

    Raises:
        SrnasError: one line naming ``regularizers[i]`` (the caller prefixes the section).
    """
    for i, spec in enumerate(specs):
        where = f"regularizers[{i}]"
        if "type" not in spec:
            raise SrnasError(f"{where}: missing key 'type'")
        fn = REGULARIZERS.get(spec["type"]) if spec["type"] in REGULARIZERS else None
        if fn is None:
            raise SrnasError(f"{where}.type: unknown regularizer {spec['type']!r}; "
                             f"choose one of: {', '.join(REGULARIZERS.keys())}")
        params = inspect.signature(fn).parameters
        allowed = [p for p, v in params.items()
                   if v.kind is inspect.Parameter.KEYWORD_ONLY and p not in ("costs", "fixed_ms")]  # measured
        for key, value in spec.items():
            if key != "type" and key not in allowed:
                raise SrnasError(f"{where}: unknown key {key!r} for {spec['type']}; valid: {', '.join(allowed)}")
            if key != "type" and not isinstance(value, (int, float, str, bool)) and value is not None:
                raise SrnasError(f"{where}.{key}: expected a scalar, got {type(value).__name__}")
        if spec["type"] == "latency" and not spec.get("table"):
            raise SrnasError(f"{where}.table: the latency penalty needs a table file (`srnas latency build`)")
