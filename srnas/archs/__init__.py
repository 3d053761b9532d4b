"""Fixed architectures (IMDN, DLSR), their building blocks, candidate ops and the genotype format.

Registered archs are imported here explicitly, so ``ARCHS`` is complete once ``srnas.archs`` is imported.
"""
from srnas.archs.dlsr import DLSR  # noqa: F401  (registers "dlsr")
from srnas.archs.factory import create_model  # noqa: F401
from srnas.archs.genotype import Genotype  # noqa: F401
from srnas.archs.imdn import IMDN  # noqa: F401  (registers "imdn")
from srnas.archs.weights import OFFICIAL_WEIGHTS, load_weights  # noqa: F401

__all__ = ["DLSR", "IMDN", "Genotype", "OFFICIAL_WEIGHTS", "create_model", "load_weights"]
