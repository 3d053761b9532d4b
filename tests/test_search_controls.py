"""Positive controls of the search: the noise candidate, the teacher task, and the control script end to end."""
import json
import sys

import pytest
import torch

from srnas.archs import create_model
from srnas.archs.genotype import Genotype
from srnas.archs.ops import build_op
from srnas.config.schema import build
from srnas.config.search import SearchOptions
from srnas.errors import SrnasError
from srnas.search.loop import run_search
from srnas.search.teacher import build_teacher, teach
from test_search_loop import tiny_options


def test_noise_candidate_ignores_its_input():
    op = build_op("noise", 6, 4)
    x = torch.rand(2, 6, 5, 7)
    torch.manual_seed(0)
    a = op(x)
    torch.manual_seed(0)
    b = op(torch.zeros_like(x))
    assert a.shape == (2, 4, 5, 7) and torch.equal(a, b)  # the same draw whatever the input
    assert not torch.equal(op(x), op(x))  # fresh noise on every call
    g = Genotype.make("imdn", ["conv3", "noise", "sep3", "conv3"], 8, 1)  # a valid (if useless) network
    assert create_model(genotype=g, scale=2)(torch.rand(1, 3, 8, 8)).shape == (1, 3, 16, 16)


def test_teacher_is_fixed_and_leaves_the_rng(tmp_path):
    path = tmp_path / "t.json"
    Genotype.make("imdn", ["dilsep5", "conv5", "dilsep5", "conv5"], 8, 1, scale=2).save(path)
    state = torch.random.get_rng_state()
    t1, t2 = build_teacher(str(path), 2, seed=3), build_teacher(str(path), 2, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)
    x = torch.rand(2, 3, 10, 10)
    assert torch.equal(t1(x), t2(x)) and not any(p.requires_grad for p in t1.parameters())
    plain = build_teacher(str(path), 2, seed=3, gain=1.0)
    assert not torch.equal(plain(x), t1(x))  # gain scales the block fusion
    out = next(teach(iter([{"lq": x, "gt": torch.zeros(1)}]), t1))
    assert torch.equal(out["gt"], t1(x)) and out["lq"] is x
    assert torch.is_grad_enabled()


def _teacher_options(tmp_path, seed, iters, primitives, teacher_ops):
    path = tmp_path / "teacher.json"
    Genotype.make("imdn", teacher_ops, 8, 1, scale=2).save(path)
    opt, raw = tiny_options(tmp_path / f"s{seed}", iters=iters, epoch_length=1000, record_every=iters // 5,
                            warmup_iters=iters // 5, regularizers=[],
                            optim_alpha={"type": "Adam", "lr": 3e-2, "betas": [0.5, 0.999]},
                            optim_w={"type": "Adam", "lr": 2e-3})
    raw["manual_seed"] = seed
    raw["network_g"].update(num_feat=8, primitives=primitives)
    raw["datasets"]["teacher"] = {"genotype": str(path)}
    for split in ("train", "arch"):
        raw["datasets"][split]["batch_size"] = 4
    return build(SearchOptions, raw), raw


def test_teacher_task_rejects_a_benchmark_val_set(tmp_path):
    opt, raw = _teacher_options(tmp_path, 0, 10, ["conv3", "noise"], ["conv3"] * 4)
    raw["datasets"]["val"] = {"name": "Set5", "root": "datasets/benchmark"}
    with pytest.raises(SrnasError, match="datasets.val"):
        build(SearchOptions, raw)


def test_harmful_candidate_ends_lowest(tmp_path):
    """Positive control at tiny scale: DARTS on a teacher task gives the noise candidate (which can only hurt) the
    lowest weight at 3 or more of the 4 positions. Measured on seeds 0-2: all 4 positions, every seed."""
    prims = ["conv3", "dilsep5", "noise"]
    opt, raw = _teacher_options(tmp_path, 0, 150, prims, ["dilsep5", "conv3", "dilsep5", "conv3"])
    result = run_search(opt, raw, progress=False)
    rec = [json.loads(ln) for ln in (result.exp_dir / "alphas.jsonl").read_text().splitlines()][-1]
    lowest = [min(range(len(row)), key=row.__getitem__) == prims.index("noise") for row in rec["alphas"][0]]
    assert sum(lowest) >= 3, rec["alphas"][0]
    noise_weight = [row[prims.index("noise")] for row in rec["alphas"][0]]
    assert max(noise_weight) < 1 / len(prims)  # below uniform, not just ranked last


def test_control_script_runs_and_reports(tmp_path, repo_dir):
    sys.path.insert(0, str(repo_dir / "benchmarks"))
    import search_controls

    tiny = ["network_g.num_feat=8", "network_g.num_block=1", "search.iters=4", "search.record_every=2",
            "search.warmup_iters=0", "datasets.val=null", "datasets.train.batch_size=2", "datasets.arch.batch_size=2",
            "datasets.train.lq_patch=16", "datasets.arch.lq_patch=16", "logger.print_freq=2",
            "logger.save_checkpoint_freq=2", "network_g.partial_k=2"]
    res = search_controls.main(["--root", str(tmp_path / "runs"), "--out", str(tmp_path / "report"), "--seeds", "0",
                                "1", "--methods", "sac", "--workers", "1", "--set", *tiny])
    sac = res["methods"]["sac"]
    assert sac["agreement"]["complete"] and set(sac["agreement"]["pairs"]) == {"0-1"}
    assert sac["teacher"]["complete"] and all(r["recovered"] is not None for r in sac["teacher"]["runs"].values())
    md = (tmp_path / "report.md").read_text()
    assert "Agreeing positions per pair: seeds 0-1:" in md and "Verdict:" in md
    # a 4-iteration search decides nothing, and the report says so
    assert not sac["agreement"]["pass"] and "NOT every pair" in md


def test_sa_branches_from_the_darts_warmup_exactly(tmp_path, repo_dir):
    """SA's warm-up is DARTS' (alpha frozen, no penalty evaluated): starting SA from the DARTS run's warm-up checkpoint
    ends exactly where SA's own full run ends."""
    sys.path.insert(0, str(repo_dir / "benchmarks"))
    import search_controls

    tiny = ["network_g.num_feat=8", "network_g.num_block=1", "search.iters=4", "search.record_every=2",
            "search.warmup_iters=2", "datasets.val=null", "datasets.train.batch_size=2", "datasets.arch.batch_size=2",
            "datasets.train.lq_patch=16", "datasets.arch.lq_patch=16", "logger.print_freq=2",
            "logger.save_checkpoint_freq=2"]
    common = ["--seeds", "0", "--tasks", "agreement", "--workers", "1", "--set", *tiny]
    search_controls.main(["--root", str(tmp_path / "shared"), "--out", str(tmp_path / "a"), "--methods", "darts", "sa",
                          *common])
    search_controls.main(["--root", str(tmp_path / "own"), "--out", str(tmp_path / "b"), "--methods", "sa",
                          "--no-share-warmup", *common])

    def last(root):
        lines = (root / "agreement_sa_s0" / "alphas.jsonl").read_text().splitlines()
        return json.loads(lines[-1])

    branched, own = last(tmp_path / "shared"), last(tmp_path / "own")
    assert branched["step"] == own["step"] == 4
    assert branched["alphas"] == own["alphas"]
    state = torch.load(tmp_path / "shared" / "agreement_sa_s0" / "checkpoints" / "iter_00000004.pth",
                       weights_only=True)
    assert state["history"]["warmup_from"] == "agreement_darts_s0"
