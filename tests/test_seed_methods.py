"""The seed regularizers (SDARTS-RS/ADV, R-DARTS, Lambda-DARTS) and their combinations with SA/SAC/FLOPs, run end to
end from the option files in ``options/search/seed/`` at tiny size through ``run_search`` (CPU, a few iterations).

Each check compares against a plain-DARTS run of the same options and seed, read back from the per-iteration
checkpoints: what the method must change (the weight step) and what it must not (the alpha step).
"""
import json
from pathlib import Path

import pytest
import torch

from srnas.archs.genotype import Genotype
from srnas.config.search import load_search_options
from srnas.errors import SrnasError
from srnas.search.loop import run_search
from srnas.search.mixed_op import MixedOp
from srnas.search.rdarts import AdaRollback, ScheduledDropPath
from srnas.utils.checkpoint import list_checkpoints, load_checkpoint

SEED_DIR = Path(__file__).resolve().parents[1] / "options" / "search" / "seed"
SPACES = ("dlsr", "imdn")
TINY = {  # DLSR needs LR patches >= 15 (ESA); Lambda-DARTS needs >= 2 blocks
    "dlsr": ["network_g.num_feat=8", "network_g.num_block=3"],
    "imdn": ["network_g.num_feat=16", "network_g.num_block=2"],
}


def tiny(name: str, space: str, root: Path, *extra: str):
    """Options of ``options/search/seed/<name>.yml`` shrunk to 2 iterations of 2 patches, one epoch per iteration,
    a checkpoint after every iteration, no validation set."""
    overrides = TINY[space] + [
        "datasets.train.lq_patch=16", "datasets.train.batch_size=2", "datasets.arch.lq_patch=16",
        "datasets.arch.batch_size=2", "datasets.val=null", "search.iters=2", "search.epoch_length=1",
        "logger.use_tb_logger=false", "logger.save_checkpoint_freq=1", "logger.keep_checkpoints=10",
        "logger.print_freq=1", f"path.experiments_root={root}", *extra]
    return load_search_options(SEED_DIR / f"{name}.yml", overrides)


def run(name: str, space: str, root: Path, *extra: str):
    opt, raw = tiny(name, space, root, *extra)
    result = run_search(opt, raw, progress=False)
    states = {int(p.stem.split("_")[-1]): load_checkpoint(p) for p in list_checkpoints(result.exp_dir / "checkpoints")}
    records = [json.loads(ln) for ln in (result.exp_dir / "alphas.jsonl").read_text().splitlines()]
    return result, states, records


BN_STATS = ("running_mean", "running_var", "num_batches_tracked")


def split(state: dict) -> tuple[dict, dict]:
    """(architecture parameters, weight parameters) of a checkpointed supernet. BatchNorm running statistics are left
    out: Lambda-DARTS' two extra train-mode forwards also update them (as in the official code), which changes no
    parameter and no training-mode output."""
    arch = {k: v for k, v in state["model"].items() if k == "alphas" or k.startswith(("alphas.", "betas."))}
    weights = {k: v for k, v in state["model"].items()
               if k not in arch and torch.is_tensor(v) and v.is_floating_point() and not k.endswith(BN_STATS)}
    return arch, weights


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def cached(tmp_path_factory):
    """``run`` memoised for the module: tests that compare the same runs share them."""
    root, done = tmp_path_factory.mktemp("runs"), {}

    def get(name: str, space: str, *extra: str):
        key = (name, space, extra)
        if key not in done:
            done[key] = run(name, space, root / f"{len(done)}", *extra)
        return done[key]

    return get


@pytest.fixture(scope="module")
def plain(cached):
    """Plain first-order DARTS from the SDARTS-RS file with SDARTS switched off, per space (the reference run)."""
    return {space: cached("sdarts_rs_" + space, space, "search.sdarts=null", f"name=plain_{space}")
            for space in SPACES}


@pytest.mark.parametrize("space", SPACES)
@pytest.mark.parametrize("mode", ["rs", "adv"])
def test_sdarts_perturbs_the_weight_step_only(cached, plain, space, mode):
    result, states, records = cached(f"sdarts_{mode}_{space}", space)
    _, ref_states, _ = plain[space]
    arch1, w1 = split(states[1])
    ref_arch1, ref_w1 = split(ref_states[1])
    # iteration 1: the alpha step (first, Algorithm 1) saw the same weights and batch -> plain DARTS alpha, bit-exact
    assert same(arch1, ref_arch1)
    # ... while the weight step ran on perturbed mixing weights (RS: U(-eps, eps) noise; ADV: PGD) -> other weights
    assert not same(w1, ref_w1)
    changed = [k for k in w1 if not torch.equal(w1[k], ref_w1[k])]
    assert any("_ops" in k for k in changed)  # the candidate ops' weights see the perturbed mixing weights
    assert result.genotype.info["method"] == f"DARTS+SDARTS-{mode.upper()}"
    assert set(records[-1]["losses"]) == {"l_val", "l_train"}


@pytest.mark.parametrize("space", SPACES)
def test_sdarts_rs_and_adv_perturb_differently(cached, space):
    rs, adv = (split(cached(f"sdarts_{m}_{space}", space)[1][1])[1] for m in ("rs", "adv"))
    assert not same(rs, adv)


@pytest.mark.parametrize("space", SPACES)
def test_lambda_darts_adds_the_alignment_gradient_from_epoch_2(tmp_path, plain, space):
    opt, _ = tiny(f"lambda_{space}", space, tmp_path, "search.lambda_darts=null", f"name=plain_{space}")
    ref_opt, _ = tiny(f"sdarts_rs_{space}", space, tmp_path, "search.sdarts=null", f"name=plain_{space}")
    assert opt == ref_opt  # the reference run is plain DARTS with exactly these options
    result, states, records = run(f"lambda_{space}", space, tmp_path)
    _, ref_states, _ = plain[space]
    # epoch 1: lambda_t = 0.125 * (e - 1) / (E - 1) = 0 -> identical to plain DARTS
    assert same(split(states[1])[1], split(ref_states[1])[1])
    # epoch 2: lambda_t = 0.125: the weights get the finite-difference alignment gradient, the alpha step is plain
    arch2, w2 = split(states[2])
    ref_arch2, ref_w2 = split(ref_states[2])
    assert same(arch2, ref_arch2)
    assert not same(w2, ref_w2)
    for rec in records:
        assert -1.0 <= rec["losses"]["lambda_align"] <= 1.0  # mean pairwise cosine of the per-block gradients
    assert result.genotype.info["method"] == "DARTS+Lambda-DARTS"


FEW_IMDN_OPS = "network_g.primitives=[conv3, sep3, dilsep3]"  # 12 alpha entries: a 12x12 Hessian per evaluation


@pytest.mark.parametrize("space", SPACES)
def test_rdarts_logs_eigenvalues_and_early_stop_derives_the_rollback_epoch(tmp_path, space):
    # forced trigger: every epoch is evaluated, window 1, delta 1, from epoch 1, factor 1 + 1e-6: the first epoch
    # whose eigenvalue exceeds the previous one stops the search and rolls back to that previous epoch
    few = [FEW_IMDN_OPS] if space == "imdn" else []
    result, states, records = run(
        f"rdarts_es_{space}", space, tmp_path, "search.iters=8", "search.hessian.window=1",
        "search.hessian.delta=1", "search.hessian.start_epoch=1", "search.hessian.factor=1.000001", *few)
    history = states[max(states)]["history"]
    eig = history["eigenvalues"]
    assert [e for e, _ in eig] == list(range(1, len(eig) + 1))
    assert all(isinstance(v, float) and v == v for _, v in eig)
    assert result.genotype.info["hessian_eigenvalues"] == [list(e) for e in eig]  # also in genotype.json
    rises = [i for i in range(1, len(eig)) if eig[i][1] / eig[i - 1][1] > 1.000001]  # R-DARTS: LA_now / LA_before
    assert rises, f"no eigenvalue rise to trigger on: {eig}"  # this seed and size do rise (checked)
    stop = eig[rises[0] - 1][0]
    assert result.stopped_early and result.steps == rises[0] + 1 < 8
    assert result.genotype.info["stopped_early_at_epoch"] == stop
    # the written genotype is the one derived at the end of the rollback epoch, as recorded then
    at_stop = next(r for r in records if r["epoch"] == stop)
    assert result.genotype.ops == Genotype.from_dict(at_stop["genotype"]).ops
    assert history["genotypes"][str(stop)]["ops"] == at_stop["genotype"]["ops"]


def test_drop_path_zeroes_whole_samples_of_a_mixed_op_in_training_only():
    torch.manual_seed(0)
    op = MixedOp(("conv_3x3", "sep_conv_3x3"), 8, 8)
    x, w = torch.rand(16, 8, 6, 6), torch.tensor([0.3, 0.7])
    with torch.no_grad():
        clean = op(x, w)
        dp = ScheduledDropPath(op, 0.5, torch.Generator().manual_seed(0))
        dp.set_epoch(3, 3)  # last epoch: p = 0.5
        out = op(x, w)
        kept = [bool(out[i].abs().sum() > 0) for i in range(16)]
        assert 0 < sum(kept) < 16  # 16 samples at p = 0.5
        for i, k in enumerate(kept):
            torch.testing.assert_close(out[i], clean[i] / 0.5 if k else torch.zeros_like(clean[i]))
        dp.set_epoch(1, 3)  # first epoch: p = 0
        assert torch.equal(op(x, w), clean)
        dp.set_epoch(3, 3)
        assert torch.equal(op.eval()(x, w), clean)  # eval mode (validation, Hessian): no drop


def test_drop_path_search_follows_its_schedule(cached, plain):
    opt, _ = tiny("rdarts_dp_dlsr", "dlsr", Path("/x"), "search.drop_path=0", "name=plain_dlsr")
    ref_opt, _ = tiny("sdarts_rs_dlsr", "dlsr", Path("/x"), "search.sdarts=null", "name=plain_dlsr")
    assert opt == ref_opt
    result, states, _ = cached("rdarts_dp_dlsr", "dlsr")
    _, ref_states, _ = plain["dlsr"]
    assert same(split(states[1])[0], split(ref_states[1])[0]) and same(split(states[1])[1], split(ref_states[1])[1])
    arch2, w2 = split(states[2])  # epoch 2 of 2: p = 0.2 in the alpha and the w step (both in training mode)
    ref_arch2, ref_w2 = split(ref_states[2])
    assert not same(arch2, ref_arch2) and not same(w2, ref_w2)
    assert states[2]["drop_path_gen"] is not None and result.genotype.info["method"] == "DARTS+DP"


def test_darts_ada_rolls_back_and_raises_the_weight_decay(tmp_path):
    result, states, records = run(
        "rdarts_ada_dlsr", "dlsr", tmp_path, "search.iters=6", "search.hessian.window=1", "search.hessian.delta=1",
        "search.hessian.start_epoch=1", "search.hessian.factor=1.000001")
    final = states[max(states)]
    ada = final["history"]["ada"]
    assert ada, "no rollback"
    first = ada[0]
    assert first["rollback_to"] == first["epoch"] - 1 and first["weight_decay"] == pytest.approx(3e-3)
    assert [a["weight_decay"] for a in ada] == pytest.approx([min(3e-4 * 10 ** (i + 1), 0.03) for i in range(len(ada))])
    assert final["opt_w"]["param_groups"][0]["weight_decay"] == pytest.approx(ada[-1]["weight_decay"])
    # the search still runs to the end (at the cap later triggers are ignored) and keeps one linear record
    assert not result.stopped_early and max(states) == 6 and result.genotype.info["method"] == "DARTS+DARTS-ADA"
    assert [r["step"] for r in records] == list(range(1, 7))
    # eigenvalues up to the rollback epoch are the restored ones; the next one comes from the new branch
    before, after = dict(map(tuple, first["eigenvalues"])), dict(map(tuple, final["history"]["eigenvalues"]))
    assert after[first["rollback_to"]] == before[first["rollback_to"]]
    assert after[first["epoch"]] != before[first["epoch"]]
    assert AdaRollback.saved_epochs(result.exp_dir / "checkpoints")  # the snapshots a later stop could need


def test_invalid_r_darts_combinations_are_rejected(tmp_path):
    with pytest.raises(SrnasError, match="hessian.ada"):
        tiny("rdarts_ada_dlsr", "dlsr", tmp_path, "search.hessian.early_stop=false")
    with pytest.raises(SrnasError, match="drop_path"):
        tiny("lambda_dlsr", "dlsr", tmp_path, "search.drop_path=0.2")


def test_sac_with_sdarts_rs(tmp_path):
    result, _, records = run("sac_sdarts_rs_imdn", "imdn", tmp_path)
    assert result.genotype.info["method"] == "SAC+SDARTS-RS"
    assert set(records[-1]["penalties"]) == {"sa"} and records[-1]["penalties"]["sa"] != 0


def test_sac_flops_with_hessian_logging(tmp_path):
    result, states, records = run("sac_flops_rdarts_imdn", "imdn", tmp_path, FEW_IMDN_OPS)
    assert result.genotype.info["method"] == "SAC+flops" and not result.stopped_early
    assert set(records[-1]["penalties"]) == {"sa", "flops"}
    assert [e for e, _ in states[2]["history"]["eigenvalues"]] == [2]  # logging only, every 2 epochs
    assert "eigenvalues" not in states[1]["history"]


def test_sa_with_lambda_darts(tmp_path):
    result, states, records = run("sa_lambda_dlsr", "dlsr", tmp_path)
    assert result.genotype.info["method"] == "SA+Lambda-DARTS"
    assert "lambda_align" in records[-1]["losses"] and "sa" in records[-1]["penalties"]
    assert states[2]["opt_a"]["param_groups"][0]["weight_decay"] == 0.0  # SA removes the alpha weight decay


def test_sa_with_sdarts_adv(tmp_path):
    result, _, records = run("sa_sdarts_adv_dlsr", "dlsr", tmp_path, "search.sdarts.steps=2")
    assert result.genotype.info["method"] == "SA+SDARTS-ADV"
    assert "sa" in records[-1]["penalties"]


@pytest.mark.parametrize("path", sorted(SEED_DIR.glob("*.yml")), ids=lambda p: p.stem)
def test_every_seed_option_file_loads(path):
    opt, _ = load_search_options(path)
    assert opt.name == f"seed_{path.stem}_x2"
    assert opt.datasets.train.hr_dir == "datasets/T91"
