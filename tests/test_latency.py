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
