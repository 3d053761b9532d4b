"""``benchmarks/step_breakdown.py``: ops sorted into kinds with the right multiply-adds, and the script end to end."""
import json
import subprocess
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

from step_breakdown import KINDS, classify  # noqa: E402


def test_classify_counts_conv_macs_by_kind():
    """A strided dilated 3x3 conv, a 1x1 conv and a depthwise conv, forward and backward (both gradients)."""
    x = torch.randn(2, 4, 9, 9, requires_grad=True)
    w3 = torch.randn(6, 4, 3, 3, requires_grad=True)
    w1 = torch.randn(5, 6, 1, 1, requires_grad=True)
    wd = torch.randn(5, 1, 3, 3, requires_grad=True)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        y = F.conv2d(x, w3, stride=2, padding=2, dilation=2)           # 9x9 -> 5x5
        y = F.conv2d(y, w1)
        y = F.conv2d(y, wd, padding=1, groups=5)
        F.batch_norm(y, None, None, training=True).sum().backward()
    kinds = classify(prof.events())
    assert set(kinds) == set(KINDS)
    kxk = 2 * 6 * 5 * 5 * 4 * 9  # N * C_out * H_out * W_out * C_in * k^2
    one = 2 * 5 * 5 * 5 * 6
    assert kinds["conv kxk"]["macs"] == kxk * 3  # forward + input and weight gradients
    assert kinds["conv 1x1"]["macs"] == one * 3
    assert kinds["depthwise conv"]["macs"] == 0 and kinds["depthwise conv"]["events"] > 0
    assert kinds["batch norm"]["events"] > 0
    assert sum(v["events"] for v in kinds.values()) == len(prof.events())


def test_step_breakdown_script_runs(tmp_path):
    out = tmp_path / "bd.json"
    subprocess.run([sys.executable, str(BENCH / "step_breakdown.py"), "--configs", "dlsr_sac", "--blocks", "1",
                    "--dlsr-feat", "16", "--batch", "2", "--lq", "16", "--warmup", "1", "--reps", "1",
                    "--json", str(out), "--md", str(tmp_path / "bd.md")], check=True, capture_output=True, timeout=300)
    r = json.loads(out.read_text())["configs"]["dlsr_sac"]
    assert r["partial_k"] == 4 and r["kinds"]["channel gather/scatter"]["events"] > 0
    assert abs(sum(v["share"] for v in r["kinds"].values()) - 1) < 1e-9
    s = r["summary"]
    assert s["peak_fraction_6x"] > 0 and 0 < s["ceiling_6x"] < 1
    assert "dlsr_sac" in (tmp_path / "bd.md").read_text()
