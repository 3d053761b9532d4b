"""torchrun with 2 CPU processes (gloo) equals one process on the combined batch."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from srnas.utils.checkpoint import list_checkpoints, load_checkpoint

OPTIONS = """\
name: {name}
network_g: {{type: dlsr, num_feat: 8, num_block: 3, partial_k: 2}}
datasets:
  train: {{hr_dir: datasets/T91, index_range: [1, 60], lq_patch: 16, batch_size: 4}}
  arch: {{hr_dir: datasets/T91, index_range: [61, 91], lq_patch: 16, batch_size: 4}}
search: {{iters: 3, epoch_length: 1, regularizers: [{{type: sa}}], hessian: {{every_epochs: 1}}}}
logger: {{use_tb_logger: false, save_checkpoint_freq: 3}}
path: {{experiments_root: {root}}}
"""


def _run(cmd, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]


def _single_and_ddp(tmp_path, repo_dir, command: str, options: str) -> tuple[dict, dict]:
    """Run ``srnas <command>`` once in one process and once under torchrun with 2 processes (gloo) on the same
    options; return their first checkpoints."""
    for name in ("single", "ddp"):
        (tmp_path / f"{name}.yml").write_text(options.format(name=name, root=tmp_path / "exps"))
    _run([sys.executable, "-m", "srnas", "--quiet", command, "-opt", str(tmp_path / "single.yml"), "--no-progress"],
         repo_dir)
    torchrun = Path(sys.executable).with_name("torchrun")
    _run([str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "srnas", "--quiet", command, "-opt",
          str(tmp_path / "ddp.yml"), "--no-progress"], repo_dir)
    return tuple(load_checkpoint(list_checkpoints(tmp_path / "exps" / name / "checkpoints")[0])
                 for name in ("single", "ddp"))


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not available")
def test_two_process_search_equals_single_process(tmp_path, repo_dir):
    a, b = _single_and_ddp(tmp_path, repo_dir, "search", OPTIONS)
    assert a["step"] == b["step"] == 3
    assert (a["world_size"], b["world_size"]) == (1, 2)
    for k, v in a["model"].items():
        if torch.is_tensor(v) and v.is_floating_point():
            torch.testing.assert_close(b["model"][k], v, rtol=1e-4, atol=1e-5, msg=k)
    assert a["history"]["eigenvalues"][-1][1] == pytest.approx(b["history"]["eigenvalues"][-1][1], rel=1e-3)


TRAIN_OPTIONS = """\
name: {name}
network_g: {{type: imdn, num_feat: 8, num_block: 1, ops: [dilsep3, sep3, conv3, conv5]}}
datasets:
  train: {{hr_dir: datasets/T91, lq_patch: 12, batch_size: 4}}
train: {{total_iter: 3, grad_clip: 1.0, ema_decay: 0.9}}
logger: {{use_tb_logger: false, save_checkpoint_freq: 3}}
path: {{experiments_root: {root}}}
"""


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not available")
def test_two_process_train_equals_single_process(tmp_path, repo_dir):
    """Retraining under torchrun: each rank half of the batch, gradients averaged before clipping and the EMA (no BN
    op: on CPU BatchNorm statistics are per rank, SyncBatchNorm is CUDA only)."""
    a, b = _single_and_ddp(tmp_path, repo_dir, "train", TRAIN_OPTIONS)
    assert a["step"] == b["step"] == 3 and (a["world_size"], b["world_size"]) == (1, 2)
    for part in ("model", "model_ema"):
        for k, v in a[part].items():
            if torch.is_tensor(v) and v.is_floating_point():
                torch.testing.assert_close(b[part][k], v, rtol=1e-4, atol=1e-5, msg=f"{part}.{k}")
    assert (tmp_path / "exps" / "ddp" / "results.json").is_file()
