"""Latency on the deployment runtime: per-op lookup tables of a search space (``build_table``), their additive
predictor (``LatencyTable``), end-to-end measurement of a derived network (``measure_genotype``) and the costs the
search's latency penalty reads (``penalty.latency_costs``). See the README section "Latency-aware search"."""
from srnas.latency.build import build_table, load_checked, measure_genotype, measure_genotypes
from srnas.latency.table import LatencyTable

__all__ = ["LatencyTable", "build_table", "load_checked", "measure_genotype", "measure_genotypes"]
