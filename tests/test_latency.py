"""Latency tables (srnas.latency), the latency penalty and its use in a search: tiny networks, a tiny table built here."""
import json

import pytest
import torch

from srnas.archs.genotype import Genotype
from srnas.cli import main
from srnas.config.schema import build
from srnas.config.search import SearchOptions
from srnas.errors import SrnasError
from srnas.latency.build import build_table, load_checked
from srnas.latency.table import LatencyTable
from srnas.search.regularizers import latency_loss

PRIMS = ("conv3", "sep3", "dilsep3")


@pytest.fixture(scope="module")
def tiny_table(tmp_path_factory):
    """An IMDN-space table of 16 channels, 2 blocks, 3 candidates, at a 48x48 input (a few seconds; large enough
    that the work, not ONNX Runtime's per-run overhead, makes up the times)."""
    table = build_table("imdn", 2, num_feat=16, num_block=2, primitives=PRIMS, input_hw=(48, 48), warmup=1,
                        repeats=3, pin=False)
    path = tmp_path_factory.mktemp("latency") / "tiny.json"
    table.save(path)
    return path


def _fd_grad(fn, a, eps=1e-6):
    g = torch.zeros_like(a)
    for idx in range(a.numel()):
        d = torch.zeros_like(a).view(-1)
        d[idx] = eps
        d = d.view_as(a)
        g.view(-1)[idx] = (fn(a + d) - fn(a - d)) / (2 * eps)
    return g


@pytest.mark.parametrize("target, temperature", [(None, 1.0), (30.0, 1.0), (30.0, 0.2)])
def test_latency_penalty_gradient_matches_finite_difference(target, temperature):
    torch.manual_seed(0)
    a = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    costs = torch.rand(4, 3, dtype=torch.float64) * 20
    fn = lambda x: latency_loss(x, 1, 1, costs=costs, fixed_ms=15.0, weight=2.0, target_ms=target,  # noqa: E731
                                temperature=temperature)
    assert fn(a).item() > 0  # the target form is above its target here, so its gradient is not zero
    (grad,) = torch.autograd.grad(fn(a), a)
    assert torch.allclose(grad, _fd_grad(fn, a.detach()), atol=1e-7)


def test_derived_form_values_the_argmax_network_and_passes_the_expectations_gradient():
    torch.manual_seed(1)
    a = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    costs = torch.rand(4, 3, dtype=torch.float64) * 20
    argmax_ms = 15.0 + costs.gather(1, a.argmax(dim=1, keepdim=True)).sum().item()
    expected_ms = 15.0 + (torch.softmax(a, 1) * costs).sum().item()
    target = (argmax_ms + expected_ms) / 2 if argmax_ms > expected_ms else argmax_ms / 2  # argmax over, either way
    derived = latency_loss(a, 1, 1, costs=costs, fixed_ms=15.0, target_ms=target, derived=True)
    assert derived.item() == pytest.approx(argmax_ms / target - 1.0)
    (g_derived,) = torch.autograd.grad(derived, a)
    # the expectation form, with its target low enough to be active: gradient d E[LAT] / d alpha / target
    soft = latency_loss(a, 1, 1, costs=costs, fixed_ms=15.0, target_ms=1e-3, weight=1e-3 / target)
    (g_soft,) = torch.autograd.grad(soft, a)
    assert g_derived.abs().sum() > 0 and torch.allclose(g_derived, g_soft)


def test_latency_target_form_is_zero_below_the_target():
    a = torch.zeros(2, 3, requires_grad=True)
    loss = latency_loss(a, 1, 1, costs=torch.ones(2, 3), fixed_ms=1.0, target_ms=10.0)
    (grad,) = torch.autograd.grad(loss, a)
    assert loss.item() == 0 and grad.abs().sum() == 0


def test_two_sided_target_form_pulls_a_fast_network_up_to_the_target():
    a = torch.tensor([[0.0, 1.0, 0.0]], requires_grad=True)
    costs = torch.tensor([[1.0, 2.0, 8.0]])
    loss = latency_loss(a, 1, 1, costs=costs, fixed_ms=1.0, target_ms=6.0, two_sided=True, derived=True)
    assert loss.item() == pytest.approx(0.5)  # |3 / 6 - 1|
    (grad,) = torch.autograd.grad(loss, a)
    assert grad[0, 2] < 0 and grad[0, 0] > 0  # descending it raises the expensive op, lowers the cheap one


def test_table_round_trip_and_one_hot_expectation_equals_prediction(tiny_table):
    t = LatencyTable.load(tiny_table)
    assert t.fingerprint["threads"] == 1 and t.fingerprint["input_hw"] == [48, 48]
    g = Genotype.make("imdn", ["sep3", "conv3", "dilsep3", "conv3"], 16, 2)
    costs, fixed = t.costs_for(PRIMS, False, 16, 2, "imdn")
    one_hot = torch.full((4, 3), -1e4)
    for j, op in enumerate(g.ops[0]):
        one_hot[j, PRIMS.index(op)] = 0.0
    expected = fixed + (torch.softmax(one_hot, 1) * costs).sum().item()
    assert expected == pytest.approx(t.predict(g)["total_ms"], rel=1e-5)


def test_table_from_another_machine_is_refused(tiny_table, tmp_path, capsys):
    d = json.loads(tiny_table.read_text())
    d["fingerprint"]["cpu"] = "Some Other CPU"
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps(d))
    with pytest.raises(SrnasError, match="another machine"):
        load_checked(foreign)
    code = main(["latency", "build", "--space", "imdn", "--num-feat", "16", "--num-block", "2", "--input", "48x48",
                 "--out", str(foreign), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "cpu 'Some Other CPU' in the table" in err[0]


@pytest.mark.parametrize("content, message", [("{", "not valid JSON"), ('{"format": "x"}', "not a latency table"),
                                              (None, "positions\\[0\\] has no entry")])
def test_bad_table_file_one_line(tiny_table, tmp_path, capsys, content, message):
    if content is None:
        d = json.loads(tiny_table.read_text())
        del d["positions"][0]["ops"]["sep3"]
        content = json.dumps(d)
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    with pytest.raises(SrnasError, match=message):
        LatencyTable.load(bad)
    assert main(["latency", "predict", "--table", str(bad), "--arch", "imdn"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_measure_and_predict_commands(tiny_table, tmp_path, capsys):
    g = tmp_path / "g.json"
    Genotype.make("imdn", ["sep3", "conv3", "dilsep3", "conv3"], 16, 2, scale=2).save(g)
    assert main(["latency", "measure", "--genotype", str(g), "--table", str(tiny_table), "--repeats", "2",
                 "--no-pin", "--json", str(tmp_path / "m.json")]) == 0
    out = capsys.readouterr().out
    assert "measured:" in out and "predicted by" in out
    assert json.loads((tmp_path / "m.json").read_text())["input_hw"] == [48, 48]
    assert main(["profile", "--genotype", str(g), "--input", "48x48", "--latency", str(tiny_table)]) == 0
    assert "predicted latency:" in capsys.readouterr().out


def test_tiny_search_with_latency_target(tiny_table, tmp_path):
    from test_search_loop import tiny_options

    from srnas.search.loop import run_search

    table = LatencyTable.load(tiny_table)
    regs = [{"type": "sa", "lambda_slope": 0.01},  # a target every network exceeds: the penalty is active
            {"type": "latency", "table": str(tiny_table), "target_ms": 1e-3, "weight": 1.0, "temperature": 0.5}]
    _, raw = tiny_options(tmp_path, "imdn", regularizers=regs)
    raw["network_g"].update({"num_feat": 16, "num_block": 2, "primitives": list(PRIMS), "partial_k": 2})  # SAC
    opt = build(SearchOptions, raw)
    result = run_search(opt, raw, progress=False)
    records = [json.loads(ln) for ln in (result.exp_dir / "alphas.jsonl").read_text().splitlines()]
    assert "latency" in records[-1]["penalties"] and records[-1]["penalties"]["latency"] > 0
    g = Genotype.load(result.exp_dir / "genotype.json")
    assert table.predict(g)["total_ms"] > 0


def test_latency_penalty_without_table_is_an_option_error(tmp_path):
    from test_search_loop import tiny_options

    from srnas.search.spaces import check_search

    with pytest.raises(SrnasError, match="table"):
        check_search(tiny_options(tmp_path, "imdn", regularizers=[{"type": "latency"}])[0])


def test_measured_latency_reaches_the_report_plot(tiny_table, tmp_path, capsys):
    g = tmp_path / "g.json"
    Genotype.make("imdn", ["conv3", "sep3", "sep3", "conv3"], 8, 2, scale=2).save(g)
    for name, psnr in (("a", 30.0), ("b", 31.0)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "report.json").write_text(json.dumps(
            {"params": 1000, "macs": 1e6, "scale": 2, "results": {"Set5": {"psnr": psnr, "ssim": 0.9}}}))
        assert main(["latency", "measure", "--genotype", str(g), "--input", "12x12", "--repeats", "1", "--no-pin",
                     "--report", str(tmp_path / name)]) == 0
    assert json.loads((tmp_path / "a" / "report.json").read_text())["latency"]["median_ms"] > 0
    assert main(["report", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "cmp")]) == 0
    assert "latency (ms)" in (tmp_path / "cmp" / "comparison.md").read_text()
    assert (tmp_path / "cmp" / "comparison_latency.png").stat().st_size > 5000


# ---- latency-constrained derivation (srnas.latency.derive) ----------------------------------------------------------
def test_ranked_assignments_visit_every_choice_once_in_probability_order():
    import itertools

    from srnas.latency.derive import ranked_assignments

    g = torch.Generator().manual_seed(0)
    logp = torch.randn(3, 4, generator=g).log_softmax(1).tolist()
    got = list(ranked_assignments(logp))
    brute = sorted((sum(logp[i][c] for i, c in enumerate(cols)), cols) for cols in itertools.product(range(4), repeat=3))
    assert len(got) == 64 and len({cols for _, cols in got}) == 64
    assert all(a[0] >= b[0] - 1e-12 for a, b in zip(got, got[1:]))  # never increasing
    assert [v for v, _ in got] == pytest.approx([v for v, _ in reversed(brute)])
    assert got[0][1] == tuple(max(range(4), key=lambda j: logp[i][j]) for i in range(3))  # the argmax first


def _searched(alphas):
    return Genotype.make("imdn", [PRIMS[max(range(3), key=lambda j: r[j])] for r in alphas], 16, 2, scale=2,
                         primitives=PRIMS, info={"alphas": [alphas], "decision": {"decided": False, "num_decided": 0,
                                                                                  "num_positions": 4}})


def test_constrained_derivation_keeps_the_most_probable_network_in_the_band(tiny_table):
    import itertools
    import math

    from srnas.latency.derive import constrained_derive

    t = LatencyTable.load(tiny_table)

    def pred_ms(c):
        return t.predict(c)["total_ms"]

    alphas = [[0.3, 0.2, 0.1], [0.1, 0.5, 0.0], [0.0, 0.1, 0.4], [0.2, 0.0, 0.1]]
    g = _searched(alphas)
    argmax_ms = t.predict(g)["total_ms"]
    d, rec = constrained_derive(g, pred_ms, argmax_ms, 0.05)  # the argmax is on target: kept as it is
    assert d.ops == g.ops and rec["rank"] == 1 and rec["rows_changed"] == [] and rec["hit"]
    tol = 0.02
    preds = {ops: t.predict(Genotype.make("imdn", list(ops), 16, 2))["total_ms"]
             for ops in itertools.product(PRIMS, repeat=4)}
    target = max(preds.values())  # the slowest network: far from the argmax, reachable
    assert abs(argmax_ms / target - 1) > tol
    d, rec = constrained_derive(g, pred_ms, target, tol)
    pred = t.predict(d)["total_ms"]
    assert rec["hit"] and abs(pred / target - 1) <= tol and rec["predicted"] == pytest.approx(pred)
    logp = [torch.tensor(r).log_softmax(0).tolist() for r in alphas]

    def score(ops):
        return sum(logp[j][PRIMS.index(op)] for j, op in enumerate(ops))

    in_band = [ops for ops, ms in preds.items() if abs(ms / target - 1) <= tol]
    assert score(d.ops[0]) == pytest.approx(max(score(ops) for ops in in_band))  # no likelier network in the band
    assert rec["probability_ratio"] == pytest.approx(math.exp(score(d.ops[0]) - score(g.ops[0])))
    assert rec["rows_changed"] and d.info["constrained_derivation"] == rec and d.info["alphas"] == [alphas]
    with pytest.raises(SrnasError, match="no network of this search"):
        constrained_derive(g, pred_ms, target * 100, tol)


def test_measured_derivation_keeps_the_first_candidate_measured_in_the_band(tiny_table):
    from srnas.latency.derive import constrained_derive

    t = LatencyTable.load(tiny_table)

    def pred_ms(c):
        return t.predict(c)["total_ms"]

    g = _searched([[0.3, 0.2, 0.1], [0.1, 0.5, 0.0], [0.0, 0.1, 0.4], [0.2, 0.0, 0.1]])
    target = t.predict(g)["total_ms"]
    timed = []

    def measure(cand):  # a fake runtime: the argmax runs 30 % over the target, every other network on it
        timed.append(cand.ops[0])
        return {"median": target * (1.3 if cand.ops == g.ops else 1.0)}

    d, rec = constrained_derive(g, pred_ms, target, 0.1, measure=measure, predicted_band=0.99)
    assert timed[0] == g.ops[0] and len(timed) == 2  # the argmax timed and refused, then the next in probability
    assert rec["hit"] and rec["by"] == "measured" and rec["rank"] == 2 and rec["measured"] == target
    assert d.ops[0] == timed[1] != g.ops[0] and len(rec["rows_changed"]) == 1

    def slow(cand):
        return {"median": t.predict(cand)["total_ms"] * 3}

    d, rec = constrained_derive(g, pred_ms, target, 0.1, measure=slow, predicted_band=0.5, max_measure=3)
    assert not rec["hit"] and len(rec["tried"]) == 3  # none in the band: the nearest of the 3 timed, flagged


def test_latency_derive_command(tiny_table, tmp_path, capsys):
    g = tmp_path / "searched.json"
    _searched([[0.3, 0.2, 0.1], [0.1, 0.5, 0.0], [0.0, 0.1, 0.4], [0.2, 0.0, 0.1]]).save(g)
    import itertools

    t = LatencyTable.load(tiny_table)
    target = max(t.predict(Genotype.make("imdn", list(ops), 16, 2))["total_ms"]
                 for ops in itertools.product(PRIMS, repeat=4))  # the slowest network: reachable on any table
    out = tmp_path / "derived.json"
    args = ["latency", "derive", "--genotype", str(g), "--table", str(tiny_table), "--target", f"{target:.3f}",
            "--tolerance", "0.1", "--out", str(out)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "of the" in text and "NOT decided (0/4)" in text
    assert Genotype.load(out).info["constrained_derivation"]["hit"]
    before = out.read_text()
    assert main(args) == 2 and out.read_text() == before  # nothing overwritten
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    plain = tmp_path / "plain.json"
    Genotype.make("imdn", ["conv3"] * 4, 16, 2, scale=2).save(plain)
    assert main([*args[:3], str(plain), *args[4:-1], str(tmp_path / "x.json")]) == 2
    assert "no searched alphas" in capsys.readouterr().err


def test_additive_cost_predicts_mult_adds_exactly():
    from srnas.archs import create_model
    from srnas.eval.profile import profile
    from srnas.latency.derive import additive_cost

    def macs(cand):
        return profile(create_model(genotype=cand, scale=2), 2, input_hw=(12, 12))["macs"]

    g = _searched([[0.3, 0.2, 0.1], [0.1, 0.5, 0.0], [0.0, 0.1, 0.4], [0.2, 0.0, 0.1]])
    predict = additive_cost(g, macs)
    other = Genotype.make("imdn", ["dilsep3", "conv3", "sep3", "sep3"], 16, 2, scale=2, primitives=PRIMS)
    assert predict(g) == macs(g) and predict(other) == macs(other) != macs(g)  # every row changed at once


def test_measure_genotypes_interleaves_sessions():
    from srnas.latency.build import measure_genotypes

    small = Genotype.make("imdn", ["sep3"] * 4, 16, 2, scale=2)
    big = Genotype.make("imdn", ["conv3"] * 4, 32, 2, scale=2)
    r = measure_genotypes({"small": small, "big": big}, 2, (48, 48), repeats=2, sessions=3, pin=False)
    assert set(r) == {"small", "big"} and all(len(v["sessions_ms"]) == 3 and v["runs"] == 6 for v in r.values())
    assert all(v["min"] <= v["median"] <= v["p90"] for v in r.values())
    assert r["small"]["median"] == pytest.approx(sorted(r["small"]["sessions_ms"])[1])  # median of the sessions


def test_bench_latency_adds_the_deployed_latency_to_the_report(tmp_path, capsys):
    import shutil

    from srnas.archs import create_model
    from srnas.train.model_file import save_model_file

    bench_set = tmp_path / "sets" / "Two"
    for sub in ("HR", "LR_bicubic/X2"):
        (bench_set / sub).mkdir(parents=True)
    src = __import__("pathlib").Path(__file__).resolve().parents[1] / "datasets" / "benchmark" / "Set5"
    shutil.copy(src / "HR" / "baby.png", bench_set / "HR")
    shutil.copy(src / "LR_bicubic" / "X2" / "babyx2.png", bench_set / "LR_bicubic" / "X2")
    torch.manual_seed(0)
    weights = save_model_file(tmp_path / "tiny.pth", create_model("imdn", scale=2, num_feat=8, num_block=1), step=0)
    assert main(["bench", "--weights", str(weights), "--datasets", "Two", "--data-root", str(tmp_path / "sets"),
                 "--no-ssim", "--no-progress", "--report", str(tmp_path / "rep"), "--latency", "--latency-input",
                 "16x16", "--latency-repeats", "2"]) == 0
    assert "latency:" in capsys.readouterr().out
    rep = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert rep["latency"]["median_ms"] > 0 and rep["latency"]["fingerprint"]["input_hw"] == [16, 16]
    assert "Two" in rep["results"]
    assert main(["bench", "--weights", str(weights), "--datasets", "Two", "--data-root", str(tmp_path / "sets"),
                 "--latency", "--latency-repeats", "0"]) == 2  # one line, before any benchmark
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_latency_derive_measure_times_beside_the_reference(tiny_table, tmp_path, capsys):
    from srnas.latency.derive import calibrated_timer

    t = LatencyTable.load(tiny_table)
    ref = Genotype.from_dict(t.extra["reference"]["genotype"])
    r = calibrated_timer(t, pin=False, repeats=2)(ref)  # the reference itself: calibrated to about its build time
    assert r["median"] == pytest.approx(r["raw_ms"] * t.extra["reference"]["measured"]["median"] / r["reference_ms"])
    assert 0.5 < r["median"] / t.extra["reference"]["measured"]["median"] < 2
    g = tmp_path / "searched.json"
    _searched([[0.3, 0.2, 0.1], [0.1, 0.5, 0.0], [0.0, 0.1, 0.4], [0.2, 0.0, 0.1]]).save(g)
    code = main(["latency", "derive", "--genotype", str(g), "--table", str(tiny_table), "--target", "1000",
                 "--tolerance", "0.5", "--measure", "--max-measure", "1", "--repeats", "1", "--no-pin",
                 "--out", str(tmp_path / "d.json")])
    out = capsys.readouterr().out
    assert code == 1 and "NOT within 50%" in out and "ms calibrated" in out  # 1000 ms: far above a tiny network
    rec = Genotype.load(tmp_path / "d.json").info["constrained_derivation"]
    assert rec["by"] == "measured" and not rec["hit"] and len(rec["tried"]) == 1 and rec["tried"][0]["raw_ms"] > 0


def test_constrained_derivation_of_per_block_alphas_keeps_rows_and_connections():
    from srnas.latency.derive import constrained_derive

    released = Genotype.load("options/genotypes/dlsr_x2_released.json")
    prims = released.primitives
    g = torch.Generator().manual_seed(1)
    alphas = [torch.randn(3, len(prims), generator=g).tolist() for _ in range(released.num_block)]  # one per cell
    searched = Genotype.make("dlsr", released.ops[0], released.num_feat, released.num_block, released.connections,
                             scale=2, primitives=prims, info={"alphas": alphas})

    def cost(c):  # an additive toy cost: the column index of every op of every cell
        return float(sum(prims.index(op) for row in c.ops for op in row))

    argmax_cost = sum(max(range(len(prims)), key=lambda j: r[j]) for a in alphas for r in a)
    d, rec = constrained_derive(searched, cost, argmax_cost + 10, 0.02)
    assert rec["hit"] and abs(cost(d) / (argmax_cost + 10) - 1) <= 0.02 and rec["rank"] > 1
    assert len(d.ops) == released.num_block and not d.shared and d.connections == released.connections
    assert len(rec["argmax_ops"]) == 3 * released.num_block
