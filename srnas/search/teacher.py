"""Known-answer search tasks: targets made by a fixed teacher network built from a genotype (a positive control).

The searched supernet is trained to reproduce ``teacher(LR)`` instead of the HR image. The teacher has the
supernet's macro structure, so a supernet whose chosen op at each position is the teacher's can represent the
targets exactly; when the teacher's ops are ones that no other candidate contains (IMDN space: ``conv5``, a dense 5x5
conv, and ``dilsep5``, the only candidate with a 9x9 footprint; ``conv3``, ``sep3/5`` and ``dilsep3`` are special
cases of ``conv5``), a search that reads the data must end on them. BatchNorm twins (``*_bn``) represent the same
functions up to batch statistics, so a control leaves them out of the candidate list.

The teacher's weights are PyTorch's default initialisation under ``seed``, with its block-fusion conv (IMDN ``c``,
DLSR ``c``) multiplied by ``gain``: with the default init the blocks carry about 11 % of a 4-block IMDN teacher's
output, with ``gain`` 4 about 29 %, so the op choice is most of what is left to learn once the stem is fitted.
"""
from __future__ import annotations

from typing import Iterator

import torch
from torch import nn

from srnas.archs import create_model
from srnas.errors import SrnasError
from srnas.utils.experiment import resolve_path


def build_teacher(genotype: str, scale: int, seed: int = 0, gain: float = 4.0,
                  device: torch.device | str = "cpu") -> nn.Module:
    """The fixed teacher network of a genotype file (eval mode, no gradients)."""
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        net = create_model(genotype=genotype, scale=scale)
    finally:
        torch.random.set_rng_state(state)  # building the teacher leaves the run's RNG untouched
    fusion = next((m for m in net.c.modules() if isinstance(m, nn.Conv2d)), None) if hasattr(net, "c") else None
    if fusion is None:
        raise SrnasError(f"datasets.teacher.genotype: {genotype}: the network has no block-fusion conv `c`")
    with torch.no_grad():
        fusion.weight.mul_(gain)
    net.requires_grad_(False)
    return net.to(device).eval()


def teacher_of(opt, device: torch.device | str = "cpu") -> nn.Module | None:
    """The teacher of a search's options (``datasets.teacher``), or None; a bad genotype file names the option."""
    t = opt.datasets.teacher
    if t is None:
        return None
    try:
        return build_teacher(str(resolve_path(t.genotype)), opt.scale, t.seed, t.gain, device)
    except SrnasError as e:
        raise SrnasError(f"datasets.teacher.genotype: {e}") from None


def teacher_ops(opt) -> list[str] | None:
    """The teacher's op per position (of its first block when ops are per block), or None without a teacher."""
    if opt.datasets.teacher is None:
        return None
    from srnas.archs.genotype import Genotype

    ops = Genotype.load(resolve_path(opt.datasets.teacher.genotype)).ops
    return list(ops[0] if isinstance(ops[0], (list, tuple)) else ops)


def teach(batches: Iterator[dict[str, torch.Tensor]], teacher: nn.Module) -> Iterator[dict[str, torch.Tensor]]:
    """``batches`` with each ``gt`` replaced by ``teacher(lq)``."""
    for b in batches:
        with torch.no_grad():
            gt = teacher(b["lq"])
        yield {"lq": b["lq"], "gt": gt}  # never yield inside no_grad: the caller would run without gradients
