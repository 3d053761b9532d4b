"""srnas: differentiable architecture search (DARTS, SA-DARTS, SAC) for lightweight super-resolution networks.

``import srnas`` stays cheap (no torch import); ``srnas.create_model`` loads the architectures on first use.
"""
from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "create_model"]


def __getattr__(name: str) -> Any:  # PEP 562 lazy attribute
    if name == "create_model":
        from srnas.archs.factory import create_model

        return create_model
    raise AttributeError(f"module 'srnas' has no attribute {name!r}")
