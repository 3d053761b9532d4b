"""Tiny name -> object registries (BasicSR's ``Registry`` without its silent suffix retry)."""
from __future__ import annotations

from typing import Any, Callable, Dict, Iterator, Sequence

from srnas.errors import SrnasError


class Registry:
    """Maps a name to a class or function. A duplicate name fails at import; an unknown name raises
    :class:`SrnasError` listing the registered names."""

    def __init__(self, name: str):
        self.name = name
        self._obj_map: Dict[str, Any] = {}

    def register(self, name: str | None = None) -> Callable[[Any], Any]:
        def deco(obj: Any) -> Any:
            key = name or obj.__name__
            if key in self._obj_map:
                raise KeyError(f"{key!r} is already registered in the {self.name} registry")
            self._obj_map[key] = obj
            return obj

        return deco

    def get(self, name: str) -> Any:
        if name not in self._obj_map:
            raise SrnasError(f"unknown {self.name} {name!r}; choose one of: {', '.join(sorted(self._obj_map))}")
        return self._obj_map[name]

    def __contains__(self, name: str) -> bool:
        return name in self._obj_map

    def __iter__(self) -> Iterator[str]:
        return iter(self._obj_map)

    def keys(self) -> list[str]:
        return list(self._obj_map)


def must_be_one_of(key: str, value: Any, names: Sequence[str]) -> SrnasError:
    """The error for an option naming no registered entry (``network_g.type``), worded as the option loader's."""
    return SrnasError(f"{key}: must be one of {', '.join(map(repr, names))}, got {value!r}")


ARCHS = Registry("arch")  # name -> network class (archs/<name>.py)
SPACE_SPECS = Registry("search space")  # name -> what the space is: archs.space.SpaceSpec (archs/<name>.py)
SPACES = Registry("search space")  # name -> its supernet class (search/spaces/<name>.py; archs never import search)
REGULARIZERS = Registry("regularizer")
