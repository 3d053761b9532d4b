"""The bi-level search loop end to end on tiny supernets (CPU, a few iterations)."""
import json
import warnings

import pytest
import torch

from srnas.archs import create_model
from srnas.archs.genotype import Genotype
from srnas.config.schema import build
from srnas.config.search import SearchOptions
from srnas.errors import SrnasError
from srnas.search.loop import run_search
from srnas.search.spaces import build_supernet
from srnas.utils.checkpoint import list_checkpoints, load_checkpoint


def tiny_options(tmp_path, space="imdn", **search):
    raw = {
        "name": f"tiny_{space}",
        "scale": 2,
        "network_g": {"type": space, "num_feat": 8 if space == "dlsr" else 16, "num_block": 3 if space == "dlsr" else 1},
        "datasets": {
            "train": {"hr_dir": "datasets/T91", "index_range": [1, 60], "lq_patch": 16, "batch_size": 2},
            "arch": {"hr_dir": "datasets/T91", "index_range": [61, 91], "lq_patch": 16, "batch_size": 2},
        },
        "search": {"iters": 4, "epoch_length": 2, "regularizers": [{"type": "sa"}], **search},
        "logger": {"print_freq": 2, "save_checkpoint_freq": 2, "use_tb_logger": False},
        "path": {"experiments_root": str(tmp_path)},
    }
    return build(SearchOptions, raw), raw


def initial_alphas(opt):
    net = build_supernet(opt)
    i = opt.search.alpha_init
    net.init_alphas(i.mode, i.std, i.offset, i.bias_op, i.bias, generator=torch.Generator().manual_seed(opt.manual_seed))
    return [a.detach().clone() for a in net.op_alphas()]


@pytest.mark.parametrize("space", ["imdn", "dlsr"])
def test_search_runs_and_writes_a_buildable_genotype(tmp_path, space):
    opt, raw = tiny_options(tmp_path, space, regularizers=[{"type": "sa"}, {"type": "flops"}])
    result = run_search(opt, raw, progress=False)
    g = Genotype.load(result.exp_dir / "genotype.json")
    assert g.space == space and g.num_feat == opt.network_g.num_feat
    net = create_model(genotype=g, scale=2).eval()
    assert net(torch.rand(1, 3, 16, 16)).shape == (1, 3, 32, 32)
    records = [json.loads(ln) for ln in (result.exp_dir / "alphas.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4]  # one record per epoch (no val set)
    assert set(records[-1]["penalties"]) == {"sa", "flops"}
    assert (result.exp_dir / "alpha_heatmap.png").stat().st_size > 1000
    assert (result.exp_dir / "options.yml").read_text().startswith("#")


def test_alpha_frozen_during_warmup(tmp_path):
    opt, raw = tiny_options(tmp_path, iters=2, warmup_epochs=1)
    result = run_search(opt, raw, progress=False)
    after = [torch.tensor(a) for a in result.genotype.info["alphas"]]
    for a, b in zip(initial_alphas(opt), after):
        assert torch.equal(a, b)


def test_alpha_moves_after_warmup_and_sa_has_no_alpha_weight_decay(tmp_path):
    opt, raw = tiny_options(tmp_path, iters=2)
    result = run_search(opt, raw, progress=False)
    after = [torch.tensor(a) for a in result.genotype.info["alphas"]]
    assert not torch.equal(initial_alphas(opt)[0], after[0])
    state = load_checkpoint(list_checkpoints(result.exp_dir / "checkpoints")[0])
    assert state["opt_a"]["param_groups"][0]["weight_decay"] == 0.0  # SA-DARTS §6.2: alpha wd removed with SA


def test_baseline_keeps_alpha_weight_decay():
    opt, _ = tiny_options("/tmp", regularizers=[])
    assert opt.search.alpha_weight_decay == 1e-8


def test_dlsr_order_and_hfen_run(tmp_path):
    opt, raw = tiny_options(tmp_path, "dlsr", iters=2, order="dlsr", loss={"hfen_weight": 0.2},
                            regularizers=[{"type": "beta_decay"}], regularize_betas=True)
    result = run_search(opt, raw, progress=False)
    assert result.genotype.connections is not None and len(result.genotype.connections) == 1


def test_existing_experiment_is_archived_not_overwritten(tmp_path):
    opt, raw = tiny_options(tmp_path, iters=2)
    first = run_search(opt, raw, progress=False).exp_dir
    marker = first / "marker.txt"
    marker.write_text("keep me")
    run_search(opt, raw, progress=False)
    archived = [p for p in tmp_path.iterdir() if p.name.startswith(first.name + "_archived_")]
    assert len(archived) == 1 and (archived[0] / "marker.txt").read_text() == "keep me"


def test_unknown_bias_op_is_rejected_before_any_output(tmp_path):
    opt, raw = tiny_options(tmp_path, alpha_init={"mode": "biased", "bias_op": "skip_connect"})
    with pytest.raises(SrnasError, match="bias_op"):
        run_search(opt, raw, progress=False)
    assert not any(tmp_path.iterdir())


def test_bf16_autocast_runs_on_cpu(tmp_path):
    opt, raw = tiny_options(tmp_path, iters=2, precision="bf16")
    result = run_search(opt, raw, progress=False)
    alphas = torch.tensor(result.genotype.info["alphas"][0])
    assert torch.isfinite(alphas).all() and not torch.equal(alphas, initial_alphas(opt)[0])


def test_fp16_needs_cuda(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    opt, raw = tiny_options(tmp_path, iters=2, precision="fp16")
    with pytest.raises(SrnasError, match="fp16 needs a CUDA device"):
        run_search(opt, raw, progress=False)


def test_nonfinite_alpha_stops_with_step_and_term_and_keeps_last_good_checkpoint(tmp_path):
    opt, raw = tiny_options(tmp_path, iters=4, optim_alpha={"type": "SGD", "lr": float("inf"), "momentum": 0.0})
    opt = build(SearchOptions, {**raw, "logger": {**raw["logger"], "save_checkpoint_freq": 1}})
    with pytest.raises(SrnasError, match=r"step 0: alpha is not finite.*last good checkpoint"):
        run_search(opt, raw, progress=False)
    assert not list_checkpoints(tmp_path / opt.name / "checkpoints")  # nothing written from the bad state
    opt, raw = tiny_options(tmp_path, iters=4, regularizers=[{"type": "l2", "weight": float("nan")}])
    with pytest.raises(SrnasError, match=r"step 0: alpha-step loss .*penalties nan.* is not finite"):
        run_search(opt, raw, progress=False)


def test_nonfinite_skip_mode_skips_the_batch(tmp_path):
    opt, raw = tiny_options(tmp_path, iters=2, nonfinite="skip", regularizers=[{"type": "l2", "weight": float("nan")}])
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # skipping is expected: no scheduler-before-optimizer warning
        result = run_search(opt, raw, progress=False)  # every iteration is skipped (its alpha step goes NaN first)
    after = [torch.tensor(a) for a in result.genotype.info["alphas"]]
    assert torch.equal(after[0], initial_alphas(opt)[0])


def test_unwritable_experiments_root_fails_before_running(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    opt, raw = tiny_options(tmp_path)
    raw["path"]["experiments_root"] = str(blocker / "exps")
    opt = build(SearchOptions, raw)
    with pytest.raises(SrnasError, match="not writable|cannot"):
        run_search(opt, raw, progress=False)


def test_single_path_search_runs_and_does_not_combine_with_sdarts(tmp_path):
    opt, raw = tiny_options(tmp_path, iters=4, warmup_iters=2, weight_paths="single")
    result = run_search(opt, raw, progress=False)
    assert (result.exp_dir / "genotype.json").exists()
    with pytest.raises(SrnasError, match="search.weight_paths"):
        tiny_options(tmp_path, weight_paths="single", sdarts={"mode": "rs"})
