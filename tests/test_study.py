"""srnas study: width fitting to a params budget, the report's statistics, and a tiny study end to end (search +
random + hand-designed, retrained, benchmarked, reported), then skipped on a second call."""
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from srnas.archs.genotype import Genotype
from srnas.cli import main
from srnas.config.study import load_study_options
from srnas.errors import SrnasError
from srnas.study.sample import count_params
from srnas.study.width import fit_shape, fit_width, with_shape
from srnas.study import (baseline_genotypes, bootstrap_interval, kendall_tau, paired, plan, run_study, search_options,
                         train_options, verdict)
from srnas.study.stats import comparisons, failure

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("file,budget", [("imdn.json", 150_000), ("imdn.json", 20_000),
                                         ("dlsr_x2_released.json", 300_000)])
def test_fit_width_is_the_widest_multiple_of_4_within_the_budget(repo_dir, file, budget):
    g = Genotype.load(repo_dir / "options" / "genotypes" / file)
    f = fit_width(g, budget, scale=2)
    assert f.num_feat % 4 == 0 and (f.ops, f.connections, f.num_block) == (g.ops, g.connections, g.num_block)
    assert f.info["params"] == count_params(f, 2) <= budget
    assert count_params(with_shape(g, num_feat=f.num_feat + 4), 2) > budget
    if file == "imdn.json" and budget == 150_000:
        assert f.num_feat == 28 and f.info["params"] == 135_342  # all-conv3 IMDN, 6 blocks, x2


def test_fit_width_and_with_shape_errors(repo_dir):
    g = Genotype.load(repo_dir / "options" / "genotypes" / "imdn.json")
    with pytest.raises(SrnasError, match="narrowest imdn network"):
        fit_width(g, 1000)
    assert with_shape(g, num_block=2).ops == (("conv3",) * 4,) * 2
    dlsr = Genotype.load(repo_dir / "options" / "genotypes" / "dlsr_x2_released.json")
    with pytest.raises(SrnasError, match="connections describe 6 cells"):
        with_shape(dlsr, num_block=4)


def test_fit_shape_lands_within_the_tolerance(repo_dir):
    g = Genotype.load(repo_dir / "options" / "genotypes" / "imdn.json")
    f = fit_shape(g, 180_000, 0.03, (3, 10))
    assert abs(f.info["params"] / 180_000 - 1) <= 0.03 and f.info["params"] == count_params(f, 2)
    assert (f.num_feat, f.num_block) == (32, 6) and f.info["params_deviation"] == pytest.approx(176_328 / 180_000 - 1)
    with pytest.raises(SrnasError, match="within 1% of 150,000"):
        fit_shape(g, 150_000, 0.01, (6, 6))


def test_bootstrap_paired_verdicts_and_tau():
    opt = SimpleNamespace(stats=SimpleNamespace(bootstrap=2000, level=0.95, seed=0))
    d = paired({0: 30.2, 1: 30.3, 2: 30.25, 9: 1.0}, {0: 30.0, 1: 30.1, 2: 30.0}, opt)  # unit 9 has no partner
    assert d["n"] == 3 and d["wins"] == 3 and d["mean"] == pytest.approx(0.2167, abs=1e-4)
    assert d["lo"] == pytest.approx(0.2) and d["hi"] == pytest.approx(0.25)  # 3 units: about [min, max]
    assert verdict("SA", "random search", d, 0.95).startswith("SA beats random search (+0.217 dB, 95% interval")
    mixed = paired({0: 30.3, 1: 30.0}, {0: 30.0, 1: 30.1}, opt)
    assert "no difference shown" in verdict("SA", "IMDN", mixed, 0.95)
    # mean +0.1, sd 0.283 -> (1.96 * 0.283 / 0.1)^2 = 30.7 -> about 31 units would decide at this effect
    assert mixed["needed"] == 31 and "about 31 units would decide" in verdict("SA", "IMDN", mixed, 0.95)
    assert d["needed"] is None  # already decided
    worse = paired({0: 29.0, 1: 29.1}, {0: 30.0, 1: 30.0}, opt)
    assert verdict("SAC", "IMDN", worse, 0.95).startswith("SAC is beaten by IMDN")
    assert paired({0: 1.0}, {0: 2.0}, opt) is None  # one unit: no interval
    assert bootstrap_interval([1.0, 1.0], 100, 0.95, 0) == (1.0, 1.0)
    assert kendall_tau([1, 2, 3, 4], [1, 2, 3, 4]) == 1.0 and kendall_tau([1, 2, 3], [3, 2, 1]) == -1.0
    assert kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)  # 5 concordant, 1 discordant


def test_failure_flags_below_bicubic_and_non_finite():
    bic = {"Set5": 33.7, "B100": 29.5}
    assert failure({"Set5": 34.0, "B100": 29.6}, bic, ["Set5", "B100"]) is None
    assert failure({"Set5": 33.0, "B100": 29.6}, bic, ["Set5", "B100"]).startswith("below bicubic: Set5 33.00")
    assert failure({"Set5": float("nan"), "B100": 29.6}, bic, ["Set5"]) == "non-finite PSNR on Set5"
    assert failure({"Set5": 33.0, "B100": 29.6}, bic, ["B100"]) is None  # only primary sets count


def _row(label, group, family, units):
    return {"space": "imdn", "label": label, "group": group, "family": family,
            "units": {u: {"ok": v is not None, "primary": v} for u, v in units.items()}}


def test_comparisons_pair_groups_by_unit():
    opt = SimpleNamespace(stats=SimpleNamespace(bootstrap=1000, level=0.95, seed=0))
    rows = [_row("SA s0", "SA", "searched", {0: 31.0}), _row("SA s1", "SA", "searched", {1: 31.2}),
            _row("rs s0", "random search", "random search", {0: 30.0}),
            _row("rs s1", "random search", "random search", {1: 30.1}),
            _row("random 1", "random genotype", "random", {0: 31.5}),
            _row("random 2", "random genotype", "random", {0: 30.5, 1: 30.9}),  # unit 0: mean of 31.5 and 30.5
            _row("IMDN", "IMDN", "hand-designed", {0: 31.0, 1: None})]  # unit 1 failed: not ranked
    comps = {(c["method"], c["baseline"]): c for c in comparisons(rows, opt)}
    assert set(comps) == {("SA", "random search"), ("SA", "random genotype"), ("random search", "random genotype")}
    assert comps[("SA", "random search")]["beats"] and comps[("SA", "random search")]["diff"]["n"] == 2
    assert comps[("SA", "random genotype")]["diff"]["per_unit"] == pytest.approx({0: 0.0, 1: 0.3})
    assert "no difference shown" in comps[("SA", "random genotype")]["sentence"]
    assert comps[("random search", "random genotype")]["beaten"]


SEARCH = """\
name: s
network_g: {type: imdn, num_feat: 8}
datasets:
  train: {hr_dir: datasets/T91, index_range: [1, 60], lq_patch: 12, batch_size: 2}
  arch: {hr_dir: datasets/T91, index_range: [61, 91], lq_patch: 12, batch_size: 2}
search: {iters: 2, epoch_length: 1}
logger: {use_tb_logger: false}
"""
TRAIN = """\
name: t
network_g: {type: imdn}
datasets:
  train: {hr_dir: datasets/T91, lq_patch: 12, batch_size: 2}
train: {total_iter: 2}
logger: {use_tb_logger: false}
"""


def _study(tmp_path, budget: int) -> str:
    return f"""\
name: tiny
experiments_root: {tmp_path / 'exps'}
seeds: [3, 4]
protocol: ["declared before running"]
spaces:
  - space: imdn
    params_budget: {budget}
    params_tolerance: 0.5
    num_block: 1
    num_block_range: [1, 3]
    search:
      opt: {tmp_path / 's.yml'}
      seeds: [0, 1]
      methods:
        - {{name: sa, set: ["search.regularizers=[{{type: sa}}]"]}}
        - {{name: sb, set: ["search.regularizers=[{{type: sa}}]"],
           reuse: "{tmp_path}/exps/tiny/searches/imdn-sa-s{{seed}}"}}
    random: {{n: 2, seed: 5, retrain: one}}
    random_search: {{seeds: [0, 1], seconds: 0.001, iters: 2, train_range: [1, 60], val_range: [90, 91]}}
train: {{opt: {tmp_path / 't.yml'}}}
bench: {{datasets: [Set5, NoSuchSet], max_images: {{Set5: 3}}}}
stats: {{bootstrap: 200, fail_margin: 100}}
stability: {{seeds: [3], factor: 2}}
"""


def test_tiny_study_runs_end_to_end_then_skips_everything(tmp_path, capsys):
    (tmp_path / "s.yml").write_text(SEARCH)
    (tmp_path / "t.yml").write_text(TRAIN)
    (tmp_path / "study.yml").write_text(_study(tmp_path, 5000))
    assert main(["study", "-opt", str(tmp_path / "study.yml"), "--no-progress"]) == 0
    root = tmp_path / "exps" / "tiny"
    data = json.loads((root / "study.json").read_text())
    assert data["status"] == "complete" and data["missing_sets"] == ["NoSuchSet"] and data["primary_sets"] == ["Set5"]
    rows = {r["arch"]: r for r in data["spaces"][0]["archs"]}
    assert {k: (r["family"], r["group"], r["seeds"]) for k, r in rows.items()} == {
        "imdn-sa-s0": ("searched", "SA", [3]), "imdn-sa-s1": ("searched", "SA", [4]),
        "imdn-sb-s0": ("searched", "SB", [3]), "imdn-sb-s1": ("searched", "SB", [4]),
        "imdn-rs-s0": ("random search", "random search", [3]), "imdn-rs-s1": ("random search", "random search", [4]),
        "imdn-random1": ("random", "random genotype", [3]), "imdn-random2": ("random", "random genotype", [4]),
        "imdn-IMDN": ("hand-designed", "IMDN", [3, 4])}
    for arch, r in rows.items():
        assert abs(r["params_deviation"]) <= 0.5 and all(u["ok"] for u in r["units"].values())
        report = json.loads((root / "runs" / f"{arch}_seed{r['seeds'][0]}" / "report.json").read_text())
        assert report["params"] == r["params"] and report["results"]["Set5"]["images"] == 3
    # the reused searches are copies of the run ones; every search is flagged
    assert rows["imdn-sb-s1"]["ops"] == rows["imdn-sa-s1"]["ops"]
    assert data["stages"]["search/imdn-sb-s0"]["reused_from"].endswith("imdn-sa-s0")
    assert all(rows[a]["decision"].startswith("NOT decided") for a in ("imdn-sa-s0", "imdn-sb-s1"))
    w = json.loads((root / "random_search" / "imdn-rs-s0" / "winner.json").read_text())
    assert w["candidates"] == 1 and w["budget_seconds"] == 0.0  # the budget rounds to 0: one candidate all the same
    pairs = {(c["method"], c["baseline"]) for c in data["comparisons"]}
    assert ("SA", "random search") in pairs and ("random search", "IMDN") in pairs and ("SA", "IMDN") in pairs
    out = capsys.readouterr().out
    assert all(c["sentence"] in out for c in data["comparisons"])
    sp = data["spaces"][0]
    assert sp["stability"]["n"] == 5  # the runs of unit 3: sa-s0, sb-s0, rs-s0, random1, IMDN
    assert (root / "runs_long" / "imdn-IMDN_seed3" / "report.json").exists()
    md = (root / "study.md").read_text()
    assert "declared before running" in md and "Kendall tau" in md and "What the search gains" in md
    assert "Random search at equal cost" in md and "Wall time per stage" in md

    watched = [p for p in (root / "runs").rglob("*.json")]
    mtimes = {p: p.stat().st_mtime_ns for p in watched}
    assert main(["study", "-opt", str(tmp_path / "study.yml"), "--no-progress", "--publish",
                 str(tmp_path / "reports")]) == 0  # everything skipped
    assert {p: p.stat().st_mtime_ns for p in watched} == mtimes
    assert "](study_tiny.png)" in (tmp_path / "reports" / "study_tiny.md").read_text()
    assert json.loads((root / "study.json").read_text())["calls"] == 2

    # other options under the same study name: refused before anything runs
    (tmp_path / "study.yml").write_text(_study(tmp_path, 20000))
    opt, raw = load_study_options(tmp_path / "study.yml")
    with pytest.raises(SrnasError, match="describes another network"):
        run_study(opt, raw, progress=False)


def test_failed_training_is_retried_and_never_ranked(tmp_path):
    (tmp_path / "t.yml").write_text(TRAIN)
    (tmp_path / "study.yml").write_text(f"""\
name: fails
experiments_root: {tmp_path / 'exps'}
seeds: [3]
spaces:
  - {{space: imdn, params_budget: 5000, num_block: 1, search: {{opt: {tmp_path / 't.yml'}, methods: []}},
      random: {{n: 0}}}}
train: {{opt: {tmp_path / 't.yml'}}}
bench: {{datasets: [Set5], max_images: {{Set5: 2}}}}
stats: {{retries: 1}}
""")
    opt, raw = load_study_options(tmp_path / "study.yml")
    data = run_study(opt, raw, progress=False)  # 2 iterations: below bicubic, a failed training
    unit = data["spaces"][0]["archs"][0]["units"][3]
    assert not unit["ok"] and [f["seed"] for f in unit["failed"]] == [3, 1003]
    assert unit["failed"][0]["why"].startswith("below bicubic: Set5")
    assert data["status"] == "complete" and data["comparisons"] == []
    assert "imdn-IMDN_seed3_retry1 (below bicubic" in (tmp_path / "exps" / "fails" / "study.md").read_text()


def test_reuse_refuses_a_search_of_other_options(tmp_path):
    from srnas.study.run import _reuse

    (tmp_path / "s.yml").write_text(SEARCH)
    src = tmp_path / "old_s0"
    src.mkdir()
    (src / "genotype.json").write_text("{}")
    (src / "options.yml").write_text(SEARCH.replace("iters: 2", "iters: 3"))
    (tmp_path / "study.yml").write_text(f"""\
name: r
experiments_root: {tmp_path / 'exps'}
spaces:
  - space: imdn
    params_budget: 5000
    num_block: 1
    search: {{opt: {tmp_path / 's.yml'}, seeds: [0], methods: [{{name: sa, reuse: "{tmp_path}/old_s{{seed}}"}}]}}
train: {{opt: {tmp_path / 's.yml'}}}
""")
    opt, _ = load_study_options(tmp_path / "study.yml")
    a = plan(opt)[0]
    with pytest.raises(SrnasError, match=r"differs from this study's search imdn-sa-s0 in \[.*'search'\]"):
        _reuse(opt, a, tmp_path / "exps" / "r", tmp_path / "exps" / "r" / "searches" / a.id)


@pytest.mark.parametrize("name", sorted(p.name for p in (REPO / "options" / "study").glob("*.yml")))
def test_shipped_study_files_validate(name, tmp_path):
    opt, _ = load_study_options(REPO / "options" / "study" / name)
    archs = plan(opt)
    for a in archs:
        if a.family == "searched":
            s_opt, _ = search_options(opt, a, tmp_path)
            assert s_opt.network_g.type == a.space.space
            assert a.space.search.keep_depth or s_opt.network_g.num_block == a.space.num_block
    for s in opt.spaces:
        assert train_options(opt, s, "x", opt.seeds[0], None, tmp_path)[0].manual_seed == opt.seeds[0]
    fitted = baseline_genotypes(opt, archs, tmp_path)
    assert len(fitted) == sum(a.family not in ("searched", "random search") for a in archs)
    for path, g in fitted:
        space = next(s for s in opt.spaces if s.space == g.space)
        if space.params_tolerance is None:
            assert g.info["params"] <= space.params_budget and g.num_block == space.num_block
        else:
            assert abs(g.info["params"] / space.params_budget - 1) <= space.params_tolerance


def test_readings_follow_the_numbers():
    from srnas.study.markdown import readings

    sp = {"stability": {"tau": 0.43, "n": 7}, "comparisons": [],
          "width_explains": {"n": 14, "num_feat": 0.95, "num_block": -0.53, "params": 0.48, "macs": 0.23}}
    tau, shape = readings(sp)
    assert "does not hold" in tau and "0.43 over 7 runs" in tau
    assert shape.startswith("At one params budget the width (num_feat) still orders") and "+0.95 over 14" in shape
    sp = {"stability": {"tau": 0.9, "n": 7}, "comparisons": [],
          "width_explains": {"n": 5, "num_feat": 0.1, "num_block": -0.6, "params": None, "macs": 0.2}}
    tau, shape = readings(sp)
    assert "holds at the longer" in tau and shape.startswith("No shape measure") and "0.60, the depth" in shape
    assert readings({"stability": {"tau": None, "n": 0}, "width_explains": {"n": 2}, "comparisons": []}) == []
    # a decided verdict whose winner is passed by its loser at the longer budget is flagged; an undecided one is not
    swap = {"ahead": "RS s0 (unit 0)", "ahead_group": "random search", "passed_by": "IMDN (unit 0)",
            "passer_group": "IMDN"}
    comps = [{"method": "random search", "baseline": "IMDN", "beats": True, "beaten": False,
              "sentence": "random search beats IMDN (+0.117 dB, ...)"},
             {"method": "DARTS", "baseline": "IMDN", "beats": False, "beaten": True, "sentence": "x"},
             {"method": "SA", "baseline": "random search", "beats": False, "beaten": False, "sentence": "y"}]
    out = readings({"stability": {"tau": 0.81, "n": 7, "swaps": [swap]}, "width_explains": {"n": 2},
                    "comparisons": comps})
    assert out[1] == "Pairs whose order flips at the longer budget: IMDN (unit 0) passes RS s0 (unit 0)."
    assert len(out) == 3 and out[2].startswith("The verdict 'random search beats IMDN' (at the budget) reverses for RS")


def test_stability_lists_the_pairs_that_swap():
    from srnas.study.stats import stability

    def row(label, group, short, long):
        return {"label": label, "group": group, "units": {0: {"ok": True, "primary": short, "long_primary": long}}}

    st = stability([row("a", "A", 3.0, 5.0), row("b", "B", 2.0, 6.0), row("c", "C", 1.0, 1.5)])
    assert st["n"] == 3 and st["tau"] == pytest.approx(1 / 3)  # 2 concordant, 1 discordant pair
    assert st["swaps"] == [{"ahead": "a (unit 0)", "ahead_group": "A", "passed_by": "b (unit 0)", "passer_group": "B"}]
