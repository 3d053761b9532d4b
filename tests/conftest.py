"""Shared fixtures. Tests that need ../shared (official weights, Set14/B100/Urban100) skip with a clear reason when it
is absent, as in a user's fresh clone; in CI and dev sessions it is always there."""
from pathlib import Path

import pytest
import torch

# Tiny tensors run faster on one thread (no fork/join per op), and results do not depend on the core count.
torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def repo_dir() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not (SHARED / "data").is_dir() or not (SHARED / "weights").is_dir():
        pytest.skip(f"{SHARED} (benchmark images and official weights) is absent: fresh clone without ../shared")
    return SHARED
