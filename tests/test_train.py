"""Retraining end to end on tiny networks (CPU, a handful of iterations): model files, exact resume, option errors."""
import json
import os
import signal
from pathlib import Path

import pytest
import torch
import yaml

from srnas.archs import Genotype, build_network, create_model, load_weights
from srnas.cli import main
from srnas.config.schema import build
from srnas.config.train import TrainOptions, load_train_options
from srnas.data import BenchmarkDataset
from srnas.errors import SrnasError
from srnas.eval.bench import evaluate
from srnas.data.stream import make_dataset
from srnas.errors import Interrupted
from srnas.train import load_model_file, load_pretrained, run_train, save_model_file
from srnas.train.loop import _train_step
from srnas.utils.checkpoint import list_checkpoints, load_checkpoint

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def tiny_genotype(tmp_path):
    path = tmp_path / "tiny.json"
    Genotype.make("imdn", ["dilsep3", "sep3", "conv3_bn", "conv3"], num_feat=8, num_block=1, scale=2).save(path)
    return path


def tiny_raw(tmp_path, network=None, val=True, **train):
    raw = {
        "name": "tiny", "scale": 2, "manual_seed": 3, "device": "cpu",
        "network_g": network or {"type": "imdn", "num_feat": 8, "num_block": 1},
        "datasets": {"train": {"hr_dir": "datasets/T91", "index_range": [1, 20], "lq_patch": 16, "batch_size": 2}},
        "train": {"total_iter": 6, "optim_g": {"lr": 1e-3}, **train},
        "logger": {"print_freq": 2, "save_checkpoint_freq": 2, "keep_checkpoints": 5, "use_tb_logger": False},
        "path": {"experiments_root": str(tmp_path / "exp")},
    }
    if val:
        raw["datasets"]["val"] = {"name": "Set5", "root": "datasets/benchmark", "every": 3}
    return raw


def options(raw):
    return build(TrainOptions, raw), raw


def test_steps_lower_the_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    model = create_model("imdn", 2, num_feat=8, num_block=1)
    batch = next(iter(torch.utils.data.DataLoader(
        make_dataset(build(TrainOptions, tiny_raw(Path("/tmp"), val=False)).datasets.train, 2, 0), batch_size=4)))
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    losses = [_train_step(model, batch, optimizer, 0.0, 50.0, i)["l_pix"] for i in range(15)]
    assert losses[-1] < 0.7 * losses[0]


def test_run_writes_model_files_that_rebuild_the_network(tmp_path, tiny_genotype):
    opt, raw = options(tiny_raw(tmp_path, {"genotype": str(tiny_genotype)}))
    result = run_train(opt, raw, progress=False)
    exp = result.exp_dir
    records = [json.loads(ln) for ln in (exp / "val.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [3, 6]
    results = json.loads((exp / "results.json").read_text())
    assert results["best_psnr"] == max(r["psnr"] for r in records) and results["final_psnr"] == records[-1]["psnr"]
    assert (exp / "options.yml").is_file() and list(exp.glob("train_*.log"))
    # the best model file loads with create_model + load_weights, and scores what the run recorded
    model = load_weights(create_model(genotype=tiny_genotype, scale=2), exp / "models" / "net_best.pth").eval()
    psnr = evaluate(model, BenchmarkDataset(REPO / "datasets/benchmark", "Set5", 2), 2, ssim=False)["psnr"]
    assert psnr == pytest.approx(results["best_psnr"], abs=1e-6)  # validated in channels-last: same to rounding
    rebuilt = load_model_file(exp)  # the experiment folder -> models/net_best.pth, architecture from srnas_config
    assert all(torch.equal(a, b) for a, b in zip(rebuilt.state_dict().values(), model.state_dict().values()))
    with pytest.raises(SrnasError, match="x2, but scale 4"):
        load_model_file(exp / "models" / "net_latest.pth", scale=4)


def test_bench_reads_model_files_and_writes_a_report(tmp_path, tiny_genotype, capsys):
    opt, raw = options(tiny_raw(tmp_path, {"genotype": str(tiny_genotype)}, val=False, total_iter=2))
    exp = run_train(opt, raw, progress=False).exp_dir
    assert not (exp / "models" / "net_best.pth").exists()  # no validation set, no best
    weights = exp / "models" / "net_latest.pth"
    assert main(["bench", "--weights", str(weights), "--genotype", str(tiny_genotype), "--datasets", "Set5",
                 "--no-ssim", "--no-progress", "--json", str(tmp_path / "a.json")]) == 0
    assert main(["bench", "--weights", str(exp), "--datasets", "Set5", "--no-progress",
                 "--report", str(tmp_path / "report")]) == 0
    with_genotype = json.loads((tmp_path / "a.json").read_text())
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["results"]["Set5"]["psnr"] == with_genotype["Set5"]["psnr"]
    assert report["params"] == sum(p.numel() for p in load_model_file(weights).parameters())
    assert report["macs"] > 0 and report["macs_input_hw"] == [360, 640]
    assert "| Set5 | 5 |" in (tmp_path / "report" / "report.md").read_text()
    assert main(["bench", "--weights", str(REPO / "options" / "train"), "--datasets", "Set5"]) == 2


def final_state(exp):
    state = load_checkpoint(list_checkpoints(exp / "checkpoints")[0])
    return state["step"], state["model"], state["model_ema"], state["optimizer"]["state"]


def test_resume_after_interrupt_is_bit_identical(tmp_path):
    train = {"ema_decay": 0.9, "grad_clip": 0.5, "scheduler": {"milestones": [5], "gamma": 0.5}}
    opt, raw = options(tiny_raw(tmp_path / "a", **train))
    full = run_train(opt, raw, progress=False)

    def interrupt_at_4(step, losses):
        if step == 4:
            os.kill(os.getpid(), signal.SIGINT)  # the real signal path: flag, checkpoint, Interrupted

    opt, raw = options(tiny_raw(tmp_path / "b", **train))
    with pytest.raises(Interrupted, match="iteration 4"):
        run_train(opt, raw, progress=False, callback=interrupt_at_4)
    assert final_state(tmp_path / "b" / "exp" / "tiny")[0] == 4
    resumed = run_train(opt, raw, resume=True, progress=False)
    a, b = final_state(full.exp_dir), final_state(resumed.exp_dir)
    assert a[0] == b[0] == 6
    for sa, sb in zip(a[1:3], b[1:3]):
        assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert all(torch.equal(a[3][i]["exp_avg_sq"], b[3][i]["exp_avg_sq"]) for i in a[3])
    assert (resumed.best_psnr, resumed.best_step) == (full.best_psnr, full.best_step)
    assert (resumed.exp_dir / "val.jsonl").read_text() == (full.exp_dir / "val.jsonl").read_text()


def test_ema_model_is_the_one_saved(tmp_path):
    opt, raw = options(tiny_raw(tmp_path, val=False, total_iter=2, ema_decay=0.5))
    exp = run_train(opt, raw, progress=False).exp_dir
    saved = torch.load(exp / "models" / "net_latest.pth", weights_only=True)
    ckpt = load_checkpoint(list_checkpoints(exp / "checkpoints")[0])
    assert saved["ema"] is True
    assert all(torch.equal(saved["model"][k], ckpt["model_ema"][k]) for k in saved["model"])
    assert not all(torch.equal(ckpt["model"][k], ckpt["model_ema"][k]) for k in ckpt["model"])


@pytest.mark.parametrize("mode", ["stop", "skip"])
def test_nonfinite_loss(tmp_path, mode):
    opt, raw = options(tiny_raw(tmp_path, val=False, total_iter=6, nonfinite=mode, optim_g={"lr": 1e12}))
    if mode == "stop":
        with pytest.raises(SrnasError, match="not finite.*last good checkpoint"):
            run_train(opt, raw, progress=False)
    else:
        exp = run_train(opt, raw, progress=False).exp_dir
        assert json.loads((exp / "results.json").read_text())["skipped_iterations"] > 0


def test_pretrain_x3_from_x2_except_upsampler(tmp_path):
    x2 = create_model("imdn", 2, num_feat=8, num_block=1)
    save_model_file(tmp_path / "x2.pth", x2, step=0)
    x3 = create_model("imdn", 3, num_feat=8, num_block=1)
    with pytest.raises(SrnasError, match="checkpoint is for scale 2"):
        load_pretrained(x3, tmp_path / "x2.pth")
    init_up = x3.upsampler[0].weight.clone()
    info = load_pretrained(x3, tmp_path / "x2.pth", skip_upsampler=True)
    assert info["skipped"] == ["upsampler.0.weight", "upsampler.0.bias"]
    assert torch.equal(x3.fea_conv.weight, x2.fea_conv.weight) and torch.equal(x3.upsampler[0].weight, init_up)


def write_options(tmp_path, raw):
    path = tmp_path / "opt.yml"
    path.write_text(yaml.safe_dump(raw))
    return path


def load_and_build(path, overrides=()):
    """Load a train option file, then build its network_g (where the registries check it), as ``srnas train``."""
    opt, raw = load_train_options(path, list(overrides))
    build_network(opt.network_g, opt.scale, lq_patch=opt.datasets.train.lq_patch, source=str(path))
    return opt, raw


@pytest.mark.parametrize("override, key", [
    ("train.totl_iter=5", "unknown key 'train.totl_iter'; did you mean 'total_iter'"),
    ("network_g.genotype=missing.json", "network_g.genotype: missing.json"),
    ("network_g.num_feat=wide", "network_g.num_feat: expected an integer"),
    ("network_g.connections=[[1]]", "network_g.connections: imdn: unknown argument"),
    ("network_g.ops=[conv9,conv3,conv3,conv3]", "network_g.ops: imdn: unknown op 'conv9'"),
    ("train.optim_g.lr=-1", "train.optim_g.lr: must be > 0"),
])
def test_option_errors_name_the_key(tmp_path, override, key):
    path = write_options(tmp_path, tiny_raw(tmp_path))
    with pytest.raises(SrnasError, match=f"^{path}: {key}"):
        load_and_build(path, [override])


def test_genotype_fixes_the_width(tmp_path, tiny_genotype):
    path = write_options(tmp_path, tiny_raw(tmp_path, {"genotype": str(tiny_genotype), "num_feat": 16}))
    with pytest.raises(SrnasError, match="network_g.num_feat: .*from the genotype"):
        load_and_build(path)


@pytest.mark.parametrize("name", sorted(p.name for p in (REPO / "options" / "train").glob("*.yml")))
def test_shipped_option_files_load(name):
    opt, _ = load_and_build(REPO / "options" / "train" / name)
    assert opt.train.total_iter > 0 and opt.datasets.val is not None
