"""srnas study: width fitting to a params budget, the report's statistics, and a tiny study end to end (search +
random + hand-designed, retrained, benchmarked, reported), then skipped on a second call."""
import json
from pathlib import Path

import pytest

from srnas.archs.genotype import Genotype
from srnas.cli import main
from srnas.config.study import load_study_options
from srnas.errors import SrnasError
from srnas.study.sample import count_params
from srnas.study.width import fit_width, with_shape
from srnas.study import baseline_genotypes, paired_difference, plan, run_study, search_options, train_options, verdict

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


def test_paired_difference_and_verdicts():
    d = paired_difference({0: 30.10, 1: 30.30, 2: 30.0}, {0: 30.0, 1: 30.2})  # seed 2 has no partner
    assert d["n"] == 2 and d["wins"] == 2 and d["mean"] == pytest.approx(0.1) and d["std"] == pytest.approx(0.0)
    assert verdict("SA", "IMDN", "Set5", d) == "SA beats IMDN by +0.100 ± 0.000 dB on Set5 (2 seeds)"
    mixed = paired_difference({0: 30.3, 1: 30.0}, {0: 30.0, 1: 30.1})
    assert verdict("SA", "IMDN", "Set5", mixed).endswith("(2 seeds; ahead on only 1 of them)")
    worse = paired_difference({0: 29.9}, {0: 30.0})
    assert worse["std"] is None
    assert verdict("SAC", "random 1", "B100", worse) == "SAC does not beat random 1 on B100: -0.100 dB (1 seed)"
    assert paired_difference({0: 1.0}, {1: 1.0}) is None


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
seeds: [3]
spaces:
  - space: imdn
    params_budget: {budget}
    num_block: 1
    search: {{opt: {tmp_path / 's.yml'}, methods: [{{name: sa, set: ["search.regularizers=[{{type: sa}}]"]}}]}}
    random: {{n: 1, seed: 5}}
train: {{opt: {tmp_path / 't.yml'}}}
bench: {{datasets: [Set5, NoSuchSet], max_images: {{Set5: 3}}}}
"""


def test_tiny_study_runs_end_to_end_then_skips_everything(tmp_path, capsys):
    (tmp_path / "s.yml").write_text(SEARCH)
    (tmp_path / "t.yml").write_text(TRAIN)
    (tmp_path / "study.yml").write_text(_study(tmp_path, 5000))
    assert main(["study", "-opt", str(tmp_path / "study.yml"), "--no-progress"]) == 0
    root = tmp_path / "exps" / "tiny"
    data = json.loads((root / "study.json").read_text())
    assert data["status"] == "complete" and data["missing_sets"] == ["NoSuchSet"] and data["sets"] == ["Set5"]
    rows = {r["arch"]: r for r in data["spaces"][0]["archs"]}
    assert {k: r["family"] for k, r in rows.items()} == {"imdn-sa": "searched", "imdn-random1": "random",
                                                         "imdn-IMDN": "hand-designed"}
    for arch, r in rows.items():
        assert r["params"] <= 5000 and r["macs"] > 0 and r["seeds"] == [3] and r["psnr"]["Set5"]["n"] == 1
        assert r["num_feat"] == fit_width(Genotype.load(root / "genotypes" / f"{arch}.json"), 5000).num_feat
        report = json.loads((root / "runs" / f"{arch}_seed3" / "report.json").read_text())
        assert report["params"] == r["params"] and set(report["results"]) == {"Set5"}
        assert report["results"]["Set5"]["images"] == 3  # bench.max_images
    assert rows["imdn-IMDN"]["ops"] == ["conv3"] * 4 and rows["imdn-sa"]["search_seconds"] > 0
    assert {(c["baseline_kind"], c["set"]) for c in data["comparisons"]} == {("best random", "Set5"),
                                                                               ("hand-designed", "Set5")}
    md = (root / "study.md").read_text()
    assert "NoSuchSet" in md and "Set5: the first 3 images" in md
    # a tiny search does not decide, and every comparison of its network says so
    assert rows["imdn-sa"]["search_decision"].startswith("NOT decided") and rows["imdn-IMDN"]["search_decision"] == "-"
    assert "**SA (search NOT decided" in md and ") vs IMDN" in md
    assert " beats " in md or "does not beat" in md
    assert (root / "study.png").stat().st_size > 0
    assert data["comparisons"][0]["sentence"] in capsys.readouterr().out

    watched = [root / "searches" / "imdn-sa" / "genotype.json"] + \
        [p for a in rows for p in (root / "runs" / f"{a}_seed3").glob("*") if p.is_file()]
    mtimes = {p: p.stat().st_mtime_ns for p in watched}
    assert main(["study", "-opt", str(tmp_path / "study.yml"), "--no-progress", "--publish",
                 str(tmp_path / "reports")]) == 0  # everything skipped
    assert {p: p.stat().st_mtime_ns for p in watched} == mtimes
    assert "](study_tiny.png)" in (tmp_path / "reports" / "study_tiny.md").read_text()
    assert (tmp_path / "reports" / "study_tiny.png").exists()
    again = json.loads((root / "study.json").read_text())
    assert again["comparisons"] == json.loads(json.dumps(data["comparisons"])) and again["calls"] == 2

    # other options under the same study name: refused before anything runs
    (tmp_path / "study.yml").write_text(_study(tmp_path, 20000))
    opt, raw = load_study_options(tmp_path / "study.yml")
    with pytest.raises(SrnasError, match="describes another network"):
        run_study(opt, raw, progress=False)
    assert {p: p.stat().st_mtime_ns for p in watched} == mtimes


@pytest.mark.parametrize("name", sorted(p.name for p in (REPO / "options" / "study").glob("*.yml")))
def test_shipped_study_files_validate(name, tmp_path):
    opt, _ = load_study_options(REPO / "options" / "study" / name)
    archs = plan(opt)
    for a in archs:
        if a.family == "searched":
            s_opt, _ = search_options(opt, a, tmp_path)
            assert (s_opt.network_g.type, s_opt.network_g.num_block) == (a.space.space, a.space.num_block)
    for s in opt.spaces:
        assert train_options(opt, s, "x", opt.seeds[0], None, tmp_path)[0].manual_seed == opt.seeds[0]
    fitted = baseline_genotypes(opt, archs, tmp_path)
    assert len(fitted) == sum(a.family != "searched" for a in archs)
    for path, g in fitted:
        space = next(s for s in opt.spaces if s.space == g.space)
        assert g.info["params"] <= space.params_budget and g.num_block == space.num_block
