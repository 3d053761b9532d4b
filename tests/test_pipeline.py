"""srnas pipeline end to end on a tiny configuration: every stage runs once, then everything is skipped."""
import json

from srnas.cli import main

SEARCH = """\
name: s
network_g: {type: imdn, num_feat: 16, num_block: 1, partial_k: 2}
datasets:
  train: {hr_dir: datasets/T91, index_range: [1, 60], lq_patch: 16, batch_size: 2}
  arch: {hr_dir: datasets/T91, index_range: [61, 91], lq_patch: 16, batch_size: 2}
search: {iters: 2, epoch_length: 1, regularizers: [{type: sa}]}
logger: {use_tb_logger: false}
"""
TRAIN = """\
name: t
network_g: {type: imdn}
datasets:
  train: {hr_dir: datasets/T91, lq_patch: 16, batch_size: 2}
train: {total_iter: 3}
logger: {use_tb_logger: false, save_checkpoint_freq: 2}
"""


def test_pipeline_runs_all_stages_then_skips_them(tmp_path, capsys):
    (tmp_path / "s.yml").write_text(SEARCH)
    (tmp_path / "t.yml").write_text(TRAIN)
    (tmp_path / "p.yml").write_text(f"""\
name: p
experiments_root: {tmp_path / 'exps'}
search: {{opt: {tmp_path / 's.yml'}}}
train: {{opt: {tmp_path / 't.yml'}}}
bench: {{datasets: [Set5], self_ensemble: true}}
""")
    assert main(["pipeline", "-opt", str(tmp_path / "p.yml"), "--no-progress"]) == 0
    root = tmp_path / "exps" / "p"
    summary = json.loads((root / "pipeline.json").read_text())
    assert set(summary["stages"]) == {"search", "train", "bench", "export_onnx", "export_torchscript"}
    bench = summary["stages"]["bench"]
    assert set(bench["results"]) == set(bench["results_x8"]) == {"Set5"}  # reported both ways
    for fmt in ("onnx", "torchscript"):
        diffs = summary["stages"][f"export_{fmt}"]["psnr_diff_vs_pytorch"]
        assert abs(diffs["Set5"]) < 0.01
    assert (root / "export" / "model.onnx").stat().st_size > 0 and (root / "report.json").exists()
    genotype = json.loads((root / "search" / "genotype.json").read_text())
    assert json.loads((root / "report.json").read_text())["genotype"]["ops"] == genotype["ops"]
    mtime = (root / "export" / "model.onnx").stat().st_mtime
    assert main(["pipeline", "-opt", str(tmp_path / "p.yml"), "--no-progress"]) == 0  # all stages skipped
    assert (root / "export" / "model.onnx").stat().st_mtime == mtime
    assert json.loads((root / "pipeline.json").read_text())["stages"]["search"] == summary["stages"]["search"]
