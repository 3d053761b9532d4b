"""Option files: every shipped file loads; bad files fail with one line naming the key (exit 2), touching nothing."""
import subprocess
import sys
from pathlib import Path

import pytest

from srnas.cli import main
from srnas.config.search import load_search_options
from srnas.errors import SrnasError
from srnas.search.spaces import check_search

REPO = Path(__file__).resolve().parents[1]
SEARCH_FILES = sorted((REPO / "options" / "search").glob("*.yml"))

GOOD = """\
name: t
network_g: {type: imdn, num_feat: 16, num_block: 1}
datasets:
  train: {hr_dir: datasets/T91, index_range: [1, 60], lq_patch: 16, batch_size: 2}
  arch: {hr_dir: datasets/T91, index_range: [61, 91], lq_patch: 16, batch_size: 2}
search: {iters: 2, epoch_length: 1, regularizers: [{type: sa}]}
logger: {use_tb_logger: false}
"""


@pytest.mark.parametrize("path", SEARCH_FILES, ids=lambda p: p.name)
def test_shipped_search_option_files_load(path):
    opt, _ = load_search_options(path)
    assert opt.search.iters >= 1


def test_set_overrides_parse_values_with_yaml(tmp_path):
    f = tmp_path / "o.yml"
    f.write_text(GOOD)
    opt, raw = load_search_options(f, ["search.iters=7", "search.optim_alpha.lr=1e-2", "network_g.partial_k=4"])
    assert (opt.search.iters, opt.search.optim_alpha.lr, opt.network_g.partial_k) == (7, 0.01, 4)
    assert opt.search.optim_alpha.betas == (0.5, 0.999)  # a partial section keeps the other defaults
    assert raw["search"]["iters"] == 7


@pytest.mark.parametrize("override, message", [
    ("search.itres=3", "unknown key 'search.itres'; did you mean 'iters'"),
    ("search.iters=-1", "search.iters: must be >= 1"),
    ("search.iters=many", "search.iters: expected an integer"),
    ("network_g.type=resnet", "network_g.type: must be one of"),
    ("search.regularizers=[{type: sa, nuu: 1}]", "search.regularizers[0]: unknown key 'nuu'"),
    ("search.regularizers=[{type: gdas}]", "search.regularizers[0].type: unknown regularizer 'gdas'"),
    ("datasets.train.index_range=[9, 2]", "datasets.train.index_range"),
    ("search.order=backwards", "search.order: must be one of"),
    ("network_g={type: imdn, impl: naive, recompute: true}", "network_g.recompute: needs network_g.impl: fast"),
])
def test_bad_option_values_name_the_key(tmp_path, override, message):
    f = tmp_path / "o.yml"
    f.write_text(GOOD)
    with pytest.raises(SrnasError, match=message.replace("[", r"\[").replace("]", r"\]")):
        opt, _ = load_search_options(f, [override])
        check_search(opt, str(f))  # names (space, regularizers) are checked against the registries here


def test_loading_options_imports_no_network_code():
    code = ("import sys, srnas.config.search, srnas.config.train; "
            "print([m for m in sys.modules if m.startswith(('srnas.search', 'srnas.archs'))])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_cli_bad_option_file_exits_2_and_leaves_experiments_untouched(tmp_path, capsys):
    exp = tmp_path / "exps" / "t"
    exp.mkdir(parents=True)
    (exp / "genotype.json").write_text("precious")
    f = tmp_path / "o.yml"
    f.write_text(GOOD + f"path: {{experiments_root: {tmp_path / 'exps'}}}\n")
    for argv in (["search", "-opt", str(f), "--set", "search.lr=1"],
                 ["search", "-opt", str(f), "--set", "network_g.primitives=[conv3, warp_conv]"],
                 ["search", "-opt", str(f), "--set", "datasets.train.hr_dir=/no/such/folder"],
                 ["search", "-opt", str(tmp_path / "missing.yml")]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("srnas: error:"), err
    assert [p.name for p in (tmp_path / "exps").iterdir()] == ["t"]
    assert (exp / "genotype.json").read_text() == "precious"


def test_invalid_yaml_reports_the_line(tmp_path):
    f = tmp_path / "o.yml"
    f.write_text("name: t\nsearch: {iters: 2\n")
    with pytest.raises(SrnasError, match="invalid YAML at line"):
        load_search_options(f)


def test_unknown_cli_flag_exits_2(capsys):
    assert main(["search", "-opt", "x.yml", "--frobnicate"]) == 2
    assert "unrecognized arguments: --frobnicate" in capsys.readouterr().err


@pytest.mark.parametrize("loader, path", [
    ("srnas.config.search:load_search_options", "options/search/quickstart.yml"),
    ("srnas.config.train:load_train_options", "options/train/quickstart.yml"),
    ("srnas.config.pipeline:load_pipeline_options", "options/pipeline/quickstart.yml"),
    ("srnas.config.study:load_study_options", "options/study/cpu_t91_x2.yml"),
])
@pytest.mark.parametrize("name", ["a/b", "..", "''"])
def test_every_option_file_kind_rejects_a_name_that_is_not_a_folder_name(loader, path, name):
    import importlib

    module, func = loader.split(":")
    load = getattr(importlib.import_module(module), func)
    with pytest.raises(SrnasError, match="name"):
        load(REPO / path, [f"name={name}"])
