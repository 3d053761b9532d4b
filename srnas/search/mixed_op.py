"""The mixed operation of a searchable position: DARTS' weighted sum of candidates, optionally on partial channels.

DARTS (SA-DARTS Eq. 1): ``mixed(x) = sum_o w_o * op_o(x)`` with ``w = softmax(alpha_row)`` computed by the caller, so
the caller decides softmax, perturbation (SDARTS) or one-hot. SAC partial channels (SA-DARTS Eq. 19, method notes §2
"SR specifics"): with ``partial_k = K > 1`` the candidates are built for ``C_in / K`` input channels and see only a
random ``C_in / K`` subset of the channels, drawn on every forward:

* ``C_in == C_out``: the mixed result is written back at the sampled channels, every other channel passes through
  unchanged, in place (Eq. 19's ``(1 - S) * x`` bypass). Channels stay aligned, so the DLSR MRB residual still adds
  channel c to channel c. deviation: no PC-DARTS "first C/K channels + channel_shuffle" (brief §4.2).
* ``C_in != C_out`` (IMDN positions 2-4: 48 -> 64, 48 -> 16): the ops read the sampled ``C_in / K`` channels and
  output all ``C_out`` channels; there is no bypass term [I] (method notes §2; the paper is silent).

Sampling uses the module's own ``torch.Generator`` (seeded from ``seed``; its state is saved in the ``state_dict`` as
extra state, so a resumed search draws the same channels). In eval mode a fixed generator is re-seeded with ``seed``
on every forward, so supernet evaluation is deterministic. With ``K = 1`` no sampling happens and the result is the
DARTS sum exactly.

``impl`` picks how the sum is evaluated: ``"naive"`` runs every candidate and adds them up (the DARTS/DLSR reference
loop, bit for bit); ``"fast"`` evaluates the same sum with less work (``srnas.search.fused``: linear candidates folded
into one conv, shared tails, BN weighting folded into the BN affine), equal to the loop up to float rounding. Both
hold the same parameters, so state dicts are interchangeable. ``MixedOp`` defaults to the reference loop; the supernets
(``srnas.search.spaces``) default to ``"fast"``. ``recompute = True`` (fast path only) trades time for memory.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor, nn

from torch.nn.utils import parametrize

from srnas.archs.ops import build_op
from srnas.search.fused import Plan, fused_forward, make_plan
from srnas.utils.layout import is_nhwc

IMPLS = ("naive", "fast")


class FixedNorm(nn.Module):
    """Parametrization ``W -> W * norm / ||W||``: the tensor keeps its direction trainable and its norm fixed (a
    buffer, so it travels with the state dict)."""

    def __init__(self, norm: float):
        super().__init__()
        self.register_buffer("norm", torch.tensor(float(norm)))

    def forward(self, w: Tensor) -> Tensor:
        return w * (self.norm / w.norm().clamp_min(1e-12))


def weighted_sum(x: Tensor, weights: Tensor, ops: Sequence[nn.Module]) -> Tensor:
    """``sum_o weights[o] * ops[o](x)`` (SA-DARTS Eq. 1), a plain Python loop over the candidates.

    Kept as one small function so a fused variant can replace it. Zero weights are not skipped (as DARTS), so a
    one-hot row still runs every candidate.
    """
    return sum(w * op(x) for w, op in zip(weights, ops))


def _to_view(t: Tensor, nhwc: bool) -> Tensor:
    """``t`` indexed (N, H, W, C) when ``nhwc`` (a view, no copy), else ``t``."""
    return t.permute(0, 2, 3, 1) if nhwc else t


def _from_view(t: Tensor, nhwc: bool) -> Tensor:
    """Inverse of :func:`_to_view`: NCHW-indexed again (a channels-last tensor, no copy)."""
    return t.permute(0, 3, 1, 2) if nhwc else t


class MixedOp(nn.Module):
    """One searchable position: a candidate module per primitive, mixed by weights given in ``forward``.

    Args:
        primitives: candidate op names (``srnas.archs.ops.OPS`` keys) in alpha column order.
        c_in, c_out: channels of the position (the derived op's shape).
        partial_k: SAC's K; 1 = plain DARTS. ``c_in`` must be divisible by K, and so must ``c_out`` when equal to
            ``c_in``.
        seed: seed of the channel-sampling generators (ignored when K = 1).
        impl: ``"naive"`` (candidate loop, the reference) or ``"fast"`` (same sum, fused; see the module docstring).

    Candidate modules are ``self._ops[i]`` in primitive order (state_dict keys ``_ops.<i>.*``).
    """

    def __init__(self, primitives: Sequence[str], c_in: int, c_out: int, partial_k: int = 1, seed: int = 0,
                 impl: str = "naive"):
        super().__init__()
        if partial_k < 1 or c_in % partial_k:
            raise ValueError(f"partial_k must be >= 1 and divide c_in={c_in}, got {partial_k}")
        if impl not in IMPLS:
            raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
        self.impl = impl
        self.primitives = tuple(primitives)
        self.c_in, self.c_out, self.k, self.seed = c_in, c_out, partial_k, seed
        self.c_sub = c_in // partial_k
        # Eq. 19: ops at width C/K; with C_in != C_out they still output the full C_out (no bypass) [I]
        op_out = self.c_sub if c_in == c_out else c_out
        self._ops = nn.ModuleList(build_op(p, self.c_sub, op_out) for p in self.primitives)
        self._ops_out = op_out
        self._generator = torch.Generator().manual_seed(seed)
        self._eval_generator = torch.Generator()
        self._plans: dict[bool, Plan] = {}  # fast path, per train/eval mode (BN is linear only in eval)
        # fast path, memory option: recompute the cheap candidate heads (depthwise/pointwise convs, ReLU) in backward
        # instead of keeping their activations (search step: ~0.5x the peak memory for ~5-8 % more time)
        self.recompute = False
        self.fft = True  # fast path: the folded wide conv through the FFT where faster (benchmarks switch it off)
        # run only the candidates of non-zero weight (single-path weight steps, ``srnas.search.single_path``)
        self.skip_zero = False

    def fix_scale(self) -> None:
        """Remove the scale symmetry between the mixing weights and the candidates' own parameters (search only).

        Every IMDN- and DLSR-space candidate ends in a linear layer (conv, 1x1 conv or BN affine), so ``w_o * op_o(x)``
        equals ``op'_o(x)`` with that layer scaled by ``w_o``: whatever ``alpha`` is, the weights can undo it, L_val has
        no preferred ``alpha``, and what the search derives depends on how each seed's weights happened to grow (the
        controls of issue 20). DARTS avoids this with affine-free BatchNorm at the end of every candidate; here, without
        changing what a candidate computes, the norm of every weight tensor of every candidate (conv kernels, BN gamma)
        is fixed at its initial value (biases stay free) and one learnable gain per position scales the mixed sum:
        ``gain * sum_o w_o op_o(x)``. The position's overall scale is learned; the share of each candidate is ``w_o``
        alone. The derived network is built from the genotype as always (no fixed norms).
        """
        if hasattr(self, "gain"):
            return
        for op in self._ops:
            for m in op.modules():
                w = getattr(m, "weight", None)
                if isinstance(w, nn.Parameter) and not parametrize.is_parametrized(m, "weight"):
                    parametrize.register_parametrization(m, "weight", FixedNorm(float(w.detach().norm())))
        self.gain = nn.Parameter(torch.ones(()))
        self._plans.clear()

    def sample_channels(self) -> Tensor:
        """The ``C_in / K`` sampled channel indices (sorted, CPU int64) for the next forward in the current mode."""
        if self.training:
            g = self._generator
        else:
            g = self._eval_generator.manual_seed(self.seed)
        idx = torch.randperm(self.c_in, generator=g)[: self.c_sub]
        return idx.sort().values

    def forward(self, x: Tensor, weights: Tensor) -> Tensor:
        """Mixed output.

        Args:
            x: ``(N, c_in, H, W)``.
            weights: ``(N_o,)`` mixing weights of this position (softmax(alpha) row, perturbed or one-hot).

        Returns:
            ``(N, c_out, H, W)``.
        """
        if hasattr(self, "gain"):  # fix_scale: the position's learned gain
            weights = weights * self.gain
        if self.k == 1:
            return self._mix(x, weights)  # SA-DARTS Eq. 1
        idx = self.sample_channels().to(x.device)
        # channels-last x: gather and scatter in its NHWC view, so that outputs and gradients stay channels-last
        # (index_select/index_copy on dim 1 return NCHW: NCHW convs and mixed-layout adds made the SAC step 1.3-1.7x
        # slower on CPU, benchmarks/search_step.py)
        nhwc = is_nhwc(x)
        xv, dim = _to_view(x, nhwc), 3 if nhwc else 1
        y = self._mix(_from_view(xv.index_select(dim, idx), nhwc), weights)  # Eq. 19: sum_o w_o o(S * x)
        if self.c_in != self.c_out:
            return y
        # + (1 - S) * x: the unsampled channels pass through, in place
        return _from_view(xv.index_copy(dim, idx, _to_view(y, nhwc)), nhwc)

    def _mix(self, x: Tensor, weights: Tensor) -> Tensor:
        if self.skip_zero:  # a one-hot row runs one candidate
            return sum(weights[i] * self._ops[i](x) for i in torch.nonzero(weights).flatten().tolist())
        if self.impl == "naive":
            return weighted_sum(x, weights, self._ops)
        plan = self._plans.get(self.training)
        if plan is None:
            plan = self._plans[self.training] = make_plan(self._ops)
        return fused_forward(plan, self._ops, x, weights, self._ops_out, self.recompute, self.fft)

    def get_extra_state(self) -> Any:
        return {"generator": self._generator.get_state()}

    def set_extra_state(self, state: Any) -> None:
        self._generator.set_state(state["generator"])

    def extra_repr(self) -> str:
        return (f"c_in={self.c_in}, c_out={self.c_out}, partial_k={self.k}, n_ops={len(self.primitives)}, "
                f"impl={self.impl}")
