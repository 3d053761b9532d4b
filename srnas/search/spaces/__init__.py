"""Searchable supernets, registered in :data:`srnas.registry.SPACES` under their space's name, and
:func:`build_supernet`, which checks a search option set against the registries and builds its supernet.

The common API (:class:`Supernet`, :func:`slot_seed`) is in ``base.py``; each space's module (``imdn.py``, ``dlsr.py``)
is imported here explicitly, so ``SPACES`` is complete once ``srnas.search.spaces`` is imported.
"""
from srnas.search.spaces.base import ALPHA_INIT_MODES, Supernet, slot_seed
from srnas.search.spaces.imdn import IMDNSupernet  # registers "imdn"
from srnas.search.spaces.dlsr import DLSRSupernet  # registers "dlsr"
from srnas.search.spaces.build import build_supernet, check_search

__all__ = ["Supernet", "IMDNSupernet", "DLSRSupernet", "ALPHA_INIT_MODES", "build_supernet", "check_search",
           "slot_seed"]
