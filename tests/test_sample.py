"""Random genotypes: uniform over the space, within the budget, reproducible by seed."""
import numpy as np
import pytest

from srnas.archs import create_model
from srnas.archs.genotype import Genotype
from srnas.archs.ops import DLSR_PRIMITIVES, IMDN_PRIMITIVES
from srnas.cli import main
from srnas.study.sample import count_params, sample_genotypes

# chi-square critical values at p = 0.001 (df = 11: 31.26, df = 8: 26.12, df = 2: 13.82, df = 5: 20.52)
CRIT = {11: 31.26, 8: 26.12, 2: 13.82, 5: 20.52}


def chi2(counts):
    counts = np.asarray(counts, float)
    expected = counts.sum() / len(counts)
    return ((counts - expected) ** 2 / expected).sum()


@pytest.mark.parametrize("space, prims", [("imdn", IMDN_PRIMITIVES), ("dlsr", DLSR_PRIMITIVES)])
def test_ops_are_uniform_per_position(space, prims):
    gs = sample_genotypes(space, 3000, seed=1, unique=False, num_feat=16)
    for pos in range(len(gs[0].ops[0])):
        counts = [sum(g.ops[0][pos] == p for g in gs) for p in prims]
        assert chi2(counts) < CRIT[len(prims) - 1], counts


def test_dlsr_connections_are_uniform_over_earlier_pairs():
    gs = sample_genotypes("dlsr", 3000, seed=2, unique=False, num_feat=16)
    pairs = {(1, 2): 0, (1, 3): 0, (2, 3): 0}  # inputs of cell 4
    for g in gs:
        pairs[tuple(g.connections[1])] += 1
    assert chi2(list(pairs.values())) < CRIT[2], pairs
    assert all(g.connections[0] == (1, 2) for g in gs)  # cell 3 has one possible pair


def test_chi_square_check_detects_a_biased_sampler():
    rng = np.random.default_rng(0)
    biased = np.bincount(np.minimum(rng.integers(0, 13, 3000), 11), minlength=12)  # last op twice as likely
    assert chi2(biased) > CRIT[11]


def test_budget_respected_and_counts_match_real_models():
    gs = sample_genotypes("imdn", 5, seed=0, params_max=200_000, scale=2)
    for g in gs:
        real = sum(p.numel() for p in create_model(genotype=g, scale=2).parameters())
        assert g.info["params"] == real == count_params(g, 2) <= 200_000


def test_reproducible_by_seed_and_unique():
    a = sample_genotypes("dlsr", 20, seed=5)
    b = sample_genotypes("dlsr", 20, seed=5)
    c = sample_genotypes("dlsr", 20, seed=6)
    assert [g.to_dict() for g in a] == [g.to_dict() for g in b] != [g.to_dict() for g in c]
    assert len({(g.ops, g.connections) for g in a}) == 20


def test_cli_writes_loadable_files_and_refuses_to_overwrite(tmp_path, capsys):
    argv = ["sample", "--space", "imdn", "--n", "3", "--seed", "4", "--out", str(tmp_path)]
    assert main(argv) == 0
    files = sorted(tmp_path.glob("*.json"))
    assert len(files) == 3 and all(Genotype.load(f).space == "imdn" for f in files)
    assert main(argv) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["sample", "--space", "imdn", "--n", "2", "--params-max", "1000", "--out", str(tmp_path / "x")]) == 2
