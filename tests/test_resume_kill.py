"""Crash safety of the long-running commands: ``srnas train`` / ``srnas search`` killed with SIGKILL at a random
point after a checkpoint, then run again with ``--resume``, end bit-identical to an uninterrupted run (CPU, one
thread, same seed). The newest checkpoint is also truncated before resuming: it must be skipped with a warning and
the one before used."""
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml

from srnas.utils.checkpoint import list_checkpoints, load_checkpoint

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
LOGGER = {"print_freq": 50, "save_checkpoint_freq": 5, "keep_checkpoints": 4, "use_tb_logger": False}


def train_options(root):
    return {
        "name": "run", "scale": 2, "manual_seed": 5, "device": "cpu",
        "network_g": {"type": "imdn", "num_feat": 8, "num_block": 1, "ops": ["sep3", "conv3_bn", "conv3", "conv3"]},
        "datasets": {"train": {"hr_dir": "datasets/T91", "index_range": [1, 20], "lq_patch": 16, "batch_size": 2}},
        "train": {"total_iter": 100, "optim_g": {"lr": 1e-3}, "ema_decay": 0.99, "grad_clip": 1.0,
                  "scheduler": {"milestones": [50], "gamma": 0.5}},
        "logger": LOGGER, "path": {"experiments_root": str(root)},
    }


def search_options(root):  # tests/test_search_loop.py's tiny supernet
    return {
        "name": "run", "scale": 2, "manual_seed": 5, "device": "cpu",
        "network_g": {"type": "imdn", "num_feat": 16, "num_block": 1, "partial_k": 2},
        "datasets": {
            "train": {"hr_dir": "datasets/T91", "index_range": [1, 60], "lq_patch": 16, "batch_size": 2},
            "arch": {"hr_dir": "datasets/T91", "index_range": [61, 91], "lq_patch": 16, "batch_size": 2},
        },
        "search": {"iters": 40, "epoch_length": 20, "regularizers": [{"type": "sa"}]},
        "logger": LOGGER, "path": {"experiments_root": str(root)},
    }


def start(command, options_path, *extra):
    return subprocess.Popen([sys.executable, "-m", "srnas", command, "-opt", str(options_path), "--no-progress",
                             *extra], env=ENV, cwd=options_path.parent, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(proc, timeout=300):
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-2000:]
    return err


def same(a, b):
    """Tensors equal bit for bit, recursively through dicts (the supernet's partial-channel generator states)."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return torch.equal(a, b)


def final_checkpoint(exp):
    newest = list_checkpoints(exp / "checkpoints")[0]
    return load_checkpoint(newest)


@pytest.mark.parametrize("command", ["train", "search"])
def test_kill_9_then_resume_is_bit_identical(tmp_path, command):
    make = train_options if command == "train" else search_options
    paths = {}
    for run in ("reference", "killed"):
        (tmp_path / run).mkdir()
        paths[run] = tmp_path / run / "opt.yml"
        paths[run].write_text(yaml.safe_dump(make(tmp_path / run / "experiments")))
    reference = start(command, paths["reference"])  # the two share the 2 cores; each has one thread
    killed = start(command, paths["killed"])
    ckpt_dir = tmp_path / "killed" / "experiments" / "run" / "checkpoints"
    deadline = time.monotonic() + 240
    while len(list_checkpoints(ckpt_dir)) < 2:  # at least two, so the newest can be corrupted below
        assert killed.poll() is None, f"the run ended before it could be killed: {killed.stderr.read()[-1000:]}"
        assert time.monotonic() < deadline, "no checkpoint written in time"
        time.sleep(0.01)
    delay = random.uniform(0.0, 0.3)
    time.sleep(delay)
    assert killed.poll() is None, "the run ended before it could be killed"
    killed.send_signal(signal.SIGKILL)
    killed.communicate()
    assert killed.returncode == -signal.SIGKILL
    finish(reference)

    found = list_checkpoints(ckpt_dir)
    newest, previous = found[0], found[1]
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])  # a torn file on a bad disk
    err = finish(start(command, paths["killed"], "--resume"))
    assert f"skipping {newest}" in err and f"resumed from {previous}" in err, err[-2000:]

    a = final_checkpoint(tmp_path / "reference" / "experiments" / "run")
    b = final_checkpoint(tmp_path / "killed" / "experiments" / "run")
    assert a["step"] == b["step"] and int(newest.name[5:13]) < b["step"], f"killed after {delay:.3f} s"
    keys = ("model", "model_ema") if command == "train" else ("model",)
    for key in keys:
        assert a[key].keys() == b[key].keys()
        for name in a[key]:
            assert same(a[key][name], b[key][name]), f"{key}.{name} differs (killed after {delay:.3f} s)"
    if command == "search":
        genotypes = [json.loads((tmp_path / run / "experiments" / "run" / "genotype.json").read_text())
                     for run in ("reference", "killed")]
        assert genotypes[0]["info"]["alphas"] == genotypes[1]["info"]["alphas"]
        assert genotypes[0]["ops"] == genotypes[1]["ops"]
