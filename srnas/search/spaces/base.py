"""The common API of the space supernets: :class:`Supernet` and the channel-sampling seed of its mixed ops.

A supernet owns its op logits ``alphas`` (one ``(N_e, N_o)`` tensor shared by all blocks, or one per block) and, in
the DLSR space, its network-level path logits ``betas``. It computes the mixing weights ``softmax(alpha)`` and hands
one ``(N_e, N_o)`` tensor per block to the blocks, which pass row ``i`` to slot ``i`` (DARTS ``MixedOp.forward(x,
weights)``). ``forward(x, block_weights)`` accepts explicit per-block weights, so SDARTS can pass perturbed weights and
Lambda-DARTS per-block copies it differentiates. The space itself (candidates, block, slot shapes, defaults) is its
:class:`srnas.archs.space.SpaceSpec`.
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from srnas.archs.genotype import Genotype
from srnas.archs.space import SpaceSpec
from srnas.search.derive import derive_ops
from srnas.search.mixed_op import MixedOp

ALPHA_INIT_MODES = ("random", "zeros", "negative", "biased")


class Supernet(nn.Module):
    """Base of the space supernets. Subclasses set ``spec`` (``space_name`` follows), call :meth:`_stem`, build their
    blocks with :meth:`_mixed_block`, make ``alphas`` with :meth:`_make_alphas`, and implement ``forward``.

    Constructor arguments of every supernet (BasicSR names; defaults from the space's spec):
        primitives: candidate op names, alpha column order.
        num_in_ch, num_out_ch: image channels (3).
        num_feat, num_block: width C and number of blocks / cells.
        upscale: SR scale.
        partial_k: SAC partial-channel K (1 = DARTS).
        per_block_alphas: one ``(N_e, N_o)`` alpha per block instead of one shared by all blocks [I].
        seed: seed of the channel sampling (K > 1).
        impl: how the mixed ops evaluate their sum: ``"fast"`` (fused, channels-last; equal to the loop up to float
            rounding) or ``"naive"`` (the reference candidate loop); see :mod:`srnas.search.mixed_op`.
        recompute: fast path: recompute the mixed ops' cheap candidate heads in backward (about half the step's peak
            memory for a few % more time).
    """

    spec: SpaceSpec
    space_name: str = ""
    primitives: tuple[str, ...] = ()
    num_feat: int
    num_block: int
    per_block_alphas: bool
    impl: str = "naive"
    channels_last: bool = False

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if "spec" in cls.__dict__:
            cls.space_name = cls.spec.name

    def _stem(self, primitives: Sequence[str], num_in_ch: int, num_feat: int, num_block: int, upscale: int,
              impl: str, per_block_alphas: bool) -> None:
        """The settings every supernet keeps, and its first conv ``fea_conv`` (IMDN/DLSR name)."""
        self.primitives = tuple(primitives)
        self.num_feat, self.num_block, self.upscale = num_feat, num_block, upscale
        self.impl, self.channels_last = impl, impl == "fast"
        self.per_block_alphas = per_block_alphas
        self.fea_conv = nn.Conv2d(num_in_ch, num_feat, 3, padding=1, bias=True)

    def _mixed_block(self, b: int, partial_k: int, seed: int, impl: str, recompute: bool) -> nn.Module:
        """Block ``b`` (0-based) of the space with a mixed op over ``primitives`` in every slot."""
        shapes = self.slot_shapes()
        slots = [MixedOp(self.primitives, c_in, c_out, partial_k, slot_seed(seed, len(shapes) * b + j), impl)
                 for j, (c_in, c_out) in enumerate(shapes)]
        for s in slots:
            s.recompute = recompute
        return self.spec.block(self.num_feat, slots)

    def _make_alphas(self, num_pos: int, per_block: bool) -> None:
        # DARTS / brief §1.3: alpha = 1e-3 * randn; shared by all blocks [I, method notes §5.2] or one per block
        shape = (num_pos, len(self.primitives))
        if per_block:
            self.alphas = nn.ParameterList(nn.Parameter(1e-3 * torch.randn(shape)) for _ in range(self.num_block))
        else:
            self.alphas = nn.Parameter(1e-3 * torch.randn(shape))
        self._costs: Optional[Tensor] = None

    def slot_shapes(self) -> list[tuple[int, int]]:
        """(c_in, c_out) of each searchable position of a block, at full width."""
        return self.spec.slot_shapes(self.num_feat)

    # ---- layout -----------------------------------------------------------------------------------------------------
    def _layout(self, x: Tensor) -> Tensor:
        """``x`` in channels-last (NHWC) memory when ``self.channels_last`` (set with ``impl="fast"``: faster depthwise
        and 1x1 convs in oneDNN/cuDNN); values are untouched, convs then keep the layout through the network."""
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    # ---- parameter groups -------------------------------------------------------------------------------------------
    def op_alphas(self) -> list[Tensor]:
        """The op-logit tensors, each ``(N_e, N_o)``: what SA / Beta-decay / L2 / FLOPs regularize."""
        return list(self.alphas) if self.per_block_alphas else [self.alphas]

    def path_alphas(self) -> list[Tensor]:
        """Network-level path logits (DLSR ``betas``); empty for spaces without them."""
        return []

    def arch_parameters(self) -> list[nn.Parameter]:
        """All architecture parameters: op alphas, then path alphas (for the alpha optimizer)."""
        return self.op_alphas() + self.path_alphas()

    def weight_parameters(self) -> list[nn.Parameter]:
        """Every parameter that is not an architecture parameter (for the weight optimizer)."""
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    # ---- mixing weights ---------------------------------------------------------------------------------------------
    def mixing_weights(self) -> list[Tensor]:
        """Per block, the ``(N_e, N_o)`` softmax weights (SA-DARTS Eq. 1); shared alphas give one tensor repeated."""
        if self.per_block_alphas:
            return [F.softmax(a, dim=-1) for a in self.alphas]
        return [F.softmax(self.alphas, dim=-1)] * self.num_block

    def _block_weights(self, block_weights: Optional[Sequence[Tensor]]) -> Sequence[Tensor]:
        if block_weights is None:
            return self.mixing_weights()
        shape = (len(self.slot_shapes()), len(self.primitives))
        if len(block_weights) != self.num_block or any(tuple(w.shape) != shape for w in block_weights):
            got = [tuple(w.shape) for w in block_weights]
            raise ValueError(f"block_weights needs {self.num_block} tensors of shape {shape}, got {got}")
        return block_weights

    # ---- initialisation ---------------------------------------------------------------------------------------------
    @torch.no_grad()
    def init_alphas(self, mode: str = "random", std: float = 1e-3, offset: float = 0.0,
                    bias_op: Union[str, int, None] = None, bias: float = 0.1,
                    generator: Optional[torch.Generator] = None) -> None:
        """Re-initialise the op alphas (and the path betas, always ``1e-3 * randn``).

        Args:
            mode: ``"random"``: ``std * randn`` (DARTS, ``std = 1e-3``); ``"zeros"``; ``"negative"``:
                ``offset + std * randn`` (SA-DARTS Table 8, method notes §6 analysis 3, e.g. ``offset = -2``);
                ``"biased"``: ``std * randn`` plus ``bias`` on column ``bias_op`` of every row (method notes §6
                analysis 2: +0.1 on ``skip_connect``).
            std, offset, bias: as above.
            bias_op: primitive name or column index (``"biased"`` only).
            generator: CPU generator for the draws (global RNG when None).
        """
        if mode not in ALPHA_INIT_MODES:
            raise ValueError(f"init_alphas mode must be one of {ALPHA_INIT_MODES}, got {mode!r}")
        col = None
        if mode == "biased":
            if bias_op is None:
                raise ValueError("init_alphas mode 'biased' needs bias_op (a primitive name or column index)")
            col = self.primitives.index(bias_op) if isinstance(bias_op, str) else int(bias_op)
        for a in self.op_alphas():
            if mode == "zeros":
                a.zero_()
                continue
            value = std * torch.randn(a.shape, generator=generator)
            if mode == "negative":
                value += offset
            elif mode == "biased":
                value[:, col] += bias
            a.copy_(value)
        for b in self.path_alphas():
            b.copy_(1e-3 * torch.randn(b.shape, generator=generator))

    # ---- derivation and costs ---------------------------------------------------------------------------------------
    def _connections(self) -> Optional[list[list[int]]]:
        return None

    def genotype(self, scale: Optional[int] = None) -> Genotype:
        """The derived network: per-row argmax of alpha (SA-DARTS Eq. 2), plus DLSR's top-2 paths."""
        rows = [derive_ops(a.detach(), self.primitives) for a in self.op_alphas()]
        ops = rows if self.per_block_alphas else rows[0]
        return Genotype.make(self.space_name, ops, self.num_feat, self.num_block, self._connections(), scale=scale,
                             primitives=self.primitives)

    def candidate_costs(self) -> Tensor:
        """``(N_e, N_o)`` MACs per LR pixel of each candidate at its real full-width (c_in, c_out) (SA-DARTS Eq. 18
        ``c_i``; method notes §4), on the alphas' device. Computed once."""
        device = self.op_alphas()[0].device
        if self._costs is None:
            from srnas.eval.profile import op_macs_per_pixel
            self._costs = torch.tensor([[float(op_macs_per_pixel(p, c_in, c_out)) for p in self.primitives]
                                        for c_in, c_out in self.slot_shapes()])
        if self._costs.device != device:
            self._costs = self._costs.to(device)
        return self._costs


def slot_seed(seed: int, index: int) -> int:
    """Seed of the channel-sampling generator of mixed op ``index`` (running count over the supernet)."""
    return 1000 * seed + index
