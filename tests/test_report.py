"""srnas report: table, Pareto front and plot across experiments."""
import json

from srnas.cli import main
from srnas.eval.report import collect, pareto


def _report(folder, params, macs, set5, urban):
    folder.mkdir(parents=True)
    (folder / "report.json").write_text(json.dumps({
        "params": params, "macs": macs, "scale": 2,
        "results": {"Set5": {"psnr": set5, "ssim": 0.9}, "Urban100": {"psnr": urban, "ssim": 0.9}}}))


def test_pareto_front_keeps_only_non_dominated_points():
    pts = [(1.0, 30.0), (2.0, 29.0), (3.0, 31.0), (0.5, 28.0), (3.0, 30.5)]
    assert pareto(pts) == [3, 0, 2]


def test_report_cli_writes_table_and_plot(tmp_path, capsys):
    _report(tmp_path / "flops_0.1", 300_000, 80e9, 37.6, 31.0)
    _report(tmp_path / "flops_1.0", 200_000, 50e9, 37.4, 30.6)
    _report(tmp_path / "flops_10", 150_000, 60e9, 37.2, 30.1)  # dominated
    out = tmp_path / "cmp"
    assert main(["report", str(tmp_path / "flops_0.1"), str(tmp_path / "flops_1.0"), str(tmp_path / "flops_10"),
                 "--out", str(out)]) == 0
    table = (out / "comparison.md").read_text().splitlines()
    assert table[2].startswith("| flops_1.0 |") and "37.40" in table[2]  # sorted by Mult-Adds
    assert (out / "comparison.png").stat().st_size > 5000
    assert len(json.loads((out / "comparison.json").read_text())) == 3
    assert main(["report", str(tmp_path / "flops_10"), "--out", str(out)]) == 2  # no overwrite without --force
    assert "exists" in capsys.readouterr().err


def test_report_rejects_folders_without_reports(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 2
    assert "no report.json" in capsys.readouterr().err
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "report.json").write_text("{}")
    assert main(["report", str(bad), "--out", str(tmp_path / "o")]) == 2


def test_collect_labels_nested_reports(tmp_path):
    _report(tmp_path / "exp" / "a", 1, 2, 30.0, 25.0)
    _report(tmp_path / "exp" / "b", 1, 3, 31.0, 26.0)
    assert sorted(r["name"] for r in collect([tmp_path / "exp"])) == ["exp/a", "exp/b"]


def test_report_flags_an_undecided_search(tmp_path):
    _report(tmp_path / "searched", 200_000, 50e9, 37.4, 30.6)
    rep = json.loads((tmp_path / "searched" / "report.json").read_text())
    rep["genotype"] = {"info": {"decision": {"decided": False, "num_decided": 1, "num_positions": 4}}}
    (tmp_path / "searched" / "report.json").write_text(json.dumps(rep))
    _report(tmp_path / "hand", 150_000, 40e9, 37.2, 30.1)
    rows = {r["name"]: r for r in collect([tmp_path / "searched", tmp_path / "hand"])}
    assert rows["searched"]["search"] == "NOT decided (1/4)" and rows["hand"]["search"] == "-"
    from srnas.eval.report import markdown

    assert "| searched | NOT decided (1/4) |" in markdown(list(rows.values()))
