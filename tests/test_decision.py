"""Decision diagnostics: per-position statistics, the decided verdict, the alpha-gradient split, and their records."""
import copy
import json
import logging
import math

import pytest
import torch

from srnas.archs.genotype import Genotype, decision_flag, verdict_line
from srnas.errors import SrnasError
from srnas.search.decision import Criterion, assess, decision_from_records, fluctuation, row_stats, summary_lines
from srnas.search.loop import run_search
from srnas.search.regularizers import alpha_loss
from srnas.search.spaces import IMDNSupernet
from srnas.search.step import StepContext, alpha_step
from test_search_loop import tiny_options

PRIMS = ("a", "b", "c", "d")


def softmax(row):
    e = [math.exp(v) for v in row]
    return [v / sum(e) for v in e]


def test_row_stats_of_a_known_row():
    st = row_stats(softmax([1.0, 0.0, 0.0, 0.0]), [1.0, 0.0, 0.0, 0.0])
    p1 = math.e / (math.e + 3)
    assert st["p1"] == pytest.approx(p1) and st["ratio"] == pytest.approx(4 * p1)
    assert st["gap"] == pytest.approx(1.0) and st["margin"] == pytest.approx(p1 - 1 / (math.e + 3))
    assert st["alpha_mean"] == pytest.approx(0.25) and st["alpha_std"] == pytest.approx(0.5)
    assert row_stats([0.25] * 4)["entropy"] == pytest.approx(1.0)


def test_fluctuation_ignores_a_steady_trend():
    assert fluctuation([0.5, 1.0, 1.5, 2.0]) == pytest.approx(0.0, abs=1e-12)
    assert fluctuation([0.0, 1.0, 0.0]) == pytest.approx(math.sqrt(2 / 3))
    assert fluctuation([1.0, 2.0]) == pytest.approx(1 / math.sqrt(2)) and fluctuation([3.0]) == 0.0


def test_a_steadily_growing_gap_is_decided():
    hist = [[softmax([g, 0, 0, 0])] for g in (0.5, 1.0, 1.5)]  # a plain std over the window (0.5) would call it noise
    assert assess(hist, PRIMS, init_std=1e-3)["decided"]


def test_decision_from_old_records(tmp_path):
    path = tmp_path / "alphas.jsonl"
    path.write_text("".join(json.dumps({"step": t, "alphas": [[softmax([g, 0, 0, 0])]]}) + "\n"
                            for t, g in enumerate((0.0, 0.001, 0.0))))
    d = decision_from_records(path, PRIMS)
    assert d is not None and not d["decided"] and d["positions"][0]["op"] == "a"
    assert decision_from_records(tmp_path / "missing.jsonl", PRIMS) is None


def test_uniform_within_init_noise_is_not_decided():
    hist = [[softmax([1e-3, 0, -1e-3, 0])]] * 3  # the top-1 holds, but only by the alpha-init noise
    d = assess(hist, PRIMS, init_std=1e-3)
    p = d["positions"][0]
    assert not d["decided"] and not p["decided"] and p["stable"]
    assert "noise" in p["reason"] and "uniform" in p["reason"]
    assert "optim_alpha.lr" in p["advice"]


def test_separated_and_stable_is_decided():
    hist = [[softmax([0.6 + 0.1 * t, 0, 0, 0])] for t in range(4)]
    d = assess(hist, PRIMS, init_std=1e-3)
    assert d["decided"] and d["positions"][0]["op"] == "a" and "reason" not in d["positions"][0]


def test_a_top1_that_changed_in_the_window_is_not_decided():
    hist = [[softmax([0, 1.0, 0, 0])], [softmax([1.0, 0.9, 0, 0])], [softmax([1.0, 0, 0, 0])]]
    p = assess(hist, PRIMS, init_std=1e-3)["positions"][0]
    assert not p["decided"] and "changed" in p["reason"] and "search longer" in p["advice"]


def test_fluctuating_gap_is_noise():
    hist = [[softmax([1.0, 0, 0, 0])], [softmax([0.1, 0, 0, 0])], [softmax([0.7, 0, 0, 0])]]
    p = assess(hist, PRIMS, init_std=1e-3)["positions"][0]
    assert p["stable"] and p["noise"] > 0.4 and not p["decided"]


def test_too_few_evaluations_and_the_window():
    hist = [[softmax([2.0, 0, 0, 0])]]
    assert not assess(hist, PRIMS, 1e-3)["decided"]
    assert assess(hist, PRIMS, 1e-3, Criterion(window=1))["decided"]


def test_min_ratio_is_applied():
    hist = [[softmax([0.3, 0, 0, 0])]] * 3  # p1 = 1.26x uniform: well above the noise, not apart from uniform
    assert not assess(hist, PRIMS, 1e-3)["decided"]
    assert assess(hist, PRIMS, 1e-3, Criterion(min_ratio=1.2))["decided"]


def test_advice_names_a_swamping_penalty():
    hist = [[softmax([0, 0, 0, 0])]] * 3
    d = assess(hist, PRIMS, 1e-3, grads={"val": 1e-4, "sa": 4e-2})
    assert "400x" in d["positions"][0]["advice"] and "GELU" in d["positions"][0]["advice"]
    lines = summary_lines(d)
    assert lines[0].startswith("position 1: NOT decided") and "NOT decided (0/1" in lines[-1]
    assert decision_flag({"decision": d}) == "NOT decided (0/1)" and decision_flag({}) == "-"
    assert "not recorded" in verdict_line(None)


def test_alpha_step_splits_the_gradient_exactly():
    torch.manual_seed(0)
    net = IMDNSupernet(num_feat=8, num_block=1).train()
    twin = copy.deepcopy(net)
    batch = {"lq": torch.rand(2, 3, 12, 12), "gt": torch.rand(2, 3, 24, 24)}
    specs = [("sa", {"lambda_const": 2.0}), ("flops", {"costs": net.candidate_costs()})]
    ctx = StepContext(0, 1, 1)
    opt = torch.optim.Adam(net.arch_parameters(), lr=1e-2)
    out = alpha_step(net, batch, opt, specs, ctx)
    # Eq. 8: every alpha gets lambda / (N_o N_e); the norm over the 4 x 12 alphas is sqrt(48) times that
    assert out["grad_sa"] == pytest.approx(2.0 / 48 * math.sqrt(48), rel=1e-6)
    # reference: one backward of L_val + penalties, the same Adam step
    opt2 = torch.optim.Adam(twin.arch_parameters(), lr=1e-2)
    from srnas.losses import sr_loss

    l_val = sr_loss(twin(batch["lq"]), batch["gt"], 0.0)
    g_val = torch.autograd.grad(l_val, twin.arch_parameters(), retain_graph=True)
    assert out["grad_val"] == pytest.approx(float(torch.cat([g.flatten() for g in g_val]).norm()), rel=1e-5)
    (l_val + alpha_loss(twin.op_alphas(), 1, 1, specs)[0]).backward(inputs=twin.arch_parameters())
    opt2.step()
    for a, b in zip(net.arch_parameters(), twin.arch_parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-7)


def test_search_records_and_reports_its_decision(tmp_path, caplog):
    opt, raw = tiny_options(tmp_path, iters=6, epoch_length=2)
    with caplog.at_level(logging.INFO, logger="srnas"):
        result = run_search(opt, raw, progress=False)
    recs = [json.loads(ln) for ln in (result.exp_dir / "alphas.jsonl").read_text().splitlines()]
    d = recs[-1]["decision"]
    assert d["num_positions"] == 4 and set(d["grads"]) == {"val", "sa"}
    assert {"p1", "ratio", "margin", "entropy", "alpha_mean", "alpha_std", "gap", "noise", "decided"} <= \
        set(d["positions"][0])
    g = Genotype.load(result.exp_dir / "genotype.json")
    assert g.info["decision"] == d  # the genotype carries its verdict
    text = caplog.text
    assert "position 4:" in text and verdict_line(d) in text  # one line per position, then the verdict


def test_warmup_iters_freezes_alpha_and_excludes_epochs(tmp_path):
    opt, raw = tiny_options(tmp_path, iters=2, warmup_iters=2)
    result = run_search(opt, raw, progress=False)
    from test_search_loop import initial_alphas

    assert torch.equal(initial_alphas(opt)[0], torch.tensor(result.genotype.info["alphas"][0]))
    with pytest.raises(SrnasError, match="warmup_iters"):
        tiny_options(tmp_path, warmup_iters=2, warmup_epochs=1)


def test_penalty_schedule_per_iteration():
    opt, _ = tiny_options("/tmp", epoch_length=4, penalty_schedule="iteration")
    assert [opt.search.penalty_epoch(t) for t in (0, 3, 5)] == [0.25, 1.0, 1.5]
    opt, _ = tiny_options("/tmp", epoch_length=4)
    assert [opt.search.penalty_epoch(t) for t in (0, 3, 5)] == [1, 1, 2]


@pytest.mark.parametrize("partial_k", [1, 4], ids=["SA", "SAC"])
def test_short_quickstart_search_leaves_uniform(tmp_path, partial_k):
    """The quickstart's search settings, on a tiny supernet for 80 iterations, move softmax(alpha) clearly off uniform
    at every position. Fails with the old settings (Eq. 8 at the paper's lambda slope on 50-iteration epochs, alpha lr
    3e-3): every top-1 weight then stays within 1.002x uniform (measured, seeds 0-2); these settings give 1.28-1.86x
    (seed 0) and at least 1.07x on seeds 1-2."""
    from srnas.config.search import load_search_options

    sets = ["name=short", f"path.experiments_root={tmp_path}", "network_g.num_feat=16", "network_g.num_block=1",
            f"network_g.partial_k={partial_k}", "search.iters=80", "search.warmup_iters=20", "search.record_every=20",
            "datasets.val=null", "datasets.train.batch_size=4", "datasets.arch.batch_size=4",
            "datasets.train.lq_patch=16", "datasets.arch.lq_patch=16", "logger.use_tb_logger=false",
            "logger.save_checkpoint_freq=1000"]
    opt, raw = load_search_options("options/search/quickstart.yml", sets)
    assert opt.search.has("sa")
    d = run_search(opt, raw, progress=False).genotype.info["decision"]
    ratios = [p["ratio"] for p in d["positions"]]
    assert min(ratios) > 1.1, ratios


def test_seed_pairs_groups_runs_by_setting():
    from srnas.search.decision import seed_pairs

    got = seed_pairs({"fs_s0": ["a", "b", "c"], "fs_s1": ["a", "b", "d"], "fs_s2": ["x", "b", "d"], "other_s0": ["a"]})
    assert got == {"fs": {"s0-s1": 2, "s0-s2": 1, "s1-s2": 2}, "other": {}}
