"""Fixed architectures (IMDN, DLSR), their building blocks, candidate ops, the genotype format and the search spaces
as data (``space.py``).

Registered archs (and the spaces they describe) are imported here explicitly, so ``ARCHS`` and ``SPACE_SPECS`` are
complete once ``srnas.archs`` is imported; IMDN first, as in the option reference (``imdn``, ``dlsr``).
"""
from srnas.archs.imdn import IMDN  # noqa: F401  (registers "imdn")
from srnas.archs.dlsr import DLSR  # noqa: F401  (registers "dlsr")
from srnas.archs.factory import build_network, create_model  # noqa: F401
from srnas.archs.genotype import Genotype  # noqa: F401
from srnas.archs.space import SpaceSpec, space_spec  # noqa: F401
from srnas.archs.weights import OFFICIAL_WEIGHTS, load_weights  # noqa: F401

__all__ = ["DLSR", "IMDN", "Genotype", "OFFICIAL_WEIGHTS", "SpaceSpec", "build_network", "create_model",
           "load_weights", "space_spec"]
