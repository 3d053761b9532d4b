"""The search's latency penalty input: a table's costs laid out like a supernet's stacked op alphas."""
from __future__ import annotations

import logging

import torch
from torch import Tensor

from srnas.errors import SrnasError
from srnas.latency.table import LatencyTable

log = logging.getLogger(__name__)


def latency_costs(table: str, net: torch.nn.Module, where: str = "search.regularizers.latency.table") \
        -> tuple[Tensor, float]:
    """``(costs, fixed_ms)`` of ``net`` (a supernet) from the table file ``table``, costs on the alphas' device.

    The table describes the *deployment* machine, so it is not checked against this one (a search may run on a GPU
    for a CPU target); its space, width, depth and candidates must match the supernet's. With partial channels (SAC)
    the costs stay the full-width derived network's.
    """
    from srnas.utils.experiment import resolve_path

    if not table:
        raise SrnasError(f"{where}: the latency penalty needs a table file (build one with `srnas latency build`)")
    path = resolve_path(table)
    t = LatencyTable.load(path)
    costs, fixed = t.costs_for(net.primitives, net.per_block_alphas, net.num_feat, net.num_block, net.space_name,
                               source=str(path))
    fp = t.fingerprint
    uniform = fixed + float(costs.mean(dim=1).sum())
    h, w = fp.get("input_hw", ["?", "?"])
    log.info("latency table %s: %s, %s %s, %s thread(s), %sx%s input; fixed %.1f ms, uniform-alpha E[latency] %.1f ms",
             path, fp.get("cpu"), fp.get("runtime"), fp.get("provider"), fp.get("threads"), h, w, fixed, uniform)
    return costs.to(net.op_alphas()[0].device), fixed
