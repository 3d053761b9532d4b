"""``srnas.search.fft_conv``: the FFT 'same' conv equals ``F.conv2d`` (values, both gradients, float64 gradcheck), keeps
the memory format, and the supernet's fast mixed op that uses it still equals the candidate loop."""
import copy

import pytest
import torch
import torch.nn.functional as F

from srnas.archs.ops import DLSR_PRIMITIVES
from srnas.search.fft_conv import fft_conv2d, worthwhile
from srnas.search.mixed_op import MixedOp


@pytest.mark.parametrize("n,c,o,h,w,k", [(2, 3, 4, 7, 9, 3), (1, 2, 2, 5, 5, 5), (2, 4, 3, 6, 8, 7), (1, 1, 1, 1, 1, 3),
                                         (1, 3, 2, 13, 4, 9)])
def test_equals_conv2d_float64(n, c, o, h, w, k):
    g = torch.Generator().manual_seed(k)
    x = torch.randn(n, c, h, w, dtype=torch.float64, generator=g, requires_grad=True)
    wt = torch.randn(o, c, k, k, dtype=torch.float64, generator=g, requires_grad=True)
    b = torch.randn(o, dtype=torch.float64, generator=g, requires_grad=True)
    y, ref = fft_conv2d(x, wt, b), F.conv2d(x, wt, b, padding=k // 2)
    gy = torch.randn(ref.shape, dtype=torch.float64, generator=g)
    got, want = torch.autograd.grad(y, (x, wt, b), gy), torch.autograd.grad(ref, (x, wt, b), gy)
    torch.testing.assert_close(y, ref, rtol=0, atol=1e-12)
    for a, e in zip(got, want):
        torch.testing.assert_close(a, e, rtol=0, atol=1e-11)


def test_gradcheck():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 6, 5, dtype=torch.float64, generator=g, requires_grad=True)
    wt = torch.randn(2, 3, 5, 5, dtype=torch.float64, generator=g, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: fft_conv2d(a, b), (x, wt))


@pytest.mark.parametrize("channels_last", [True, False])
def test_float32_rounding_and_memory_format(channels_last):
    """fp32 through the FFT is as close to the float64 result as the direct fp32 conv (rounding, not approximation),
    and a channels-last input gives channels-last output and input gradient."""
    g = torch.Generator().manual_seed(1)
    x64 = torch.randn(4, 48, 32, 32, dtype=torch.float64, generator=g)
    w64 = torch.randn(48, 48, 7, 7, dtype=torch.float64, generator=g)
    ref = F.conv2d(x64, w64, padding=3)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = x64.float().contiguous(memory_format=fmt).requires_grad_(True)
    y = fft_conv2d(x, w64.float())
    direct_err = float((F.conv2d(x64.float(), w64.float(), padding=3).double() - ref).abs().max())
    assert float((y.detach().double() - ref).abs().max()) <= 2 * direct_err
    assert y.is_contiguous(memory_format=fmt)
    y.backward(torch.ones_like(y).contiguous(memory_format=fmt))
    assert x.grad.is_contiguous(memory_format=fmt)


def test_bad_kernel_is_refused():
    with pytest.raises(ValueError, match="odd square"):
        fft_conv2d(torch.rand(1, 4, 8, 8), torch.rand(4, 4, 4, 4))
    with pytest.raises(ValueError, match="odd square"):
        fft_conv2d(torch.rand(1, 4, 8, 8), torch.rand(4, 2, 3, 3))


def test_worthwhile_rule():
    x = torch.rand(1, 48, 8, 8)
    assert worthwhile(x, torch.rand(48, 48, 7, 7))
    assert not worthwhile(x, torch.rand(48, 48, 3, 3))          # 3x3: the direct conv is faster
    assert not worthwhile(torch.rand(1, 16, 8, 8), torch.rand(16, 16, 5, 5))  # few channels
    assert not worthwhile(x.double(), torch.rand(48, 48, 7, 7))  # dtypes differ
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not worthwhile(x, torch.rand(48, 48, 7, 7))


def test_supernet_mixed_op_through_fft_equals_loop():
    """DLSR candidates at 32 channels fold into a 7x7 kernel that goes through the FFT: same output and gradients
    (input, mixing weights, every candidate weight) as the candidate loop, and as the fast path without the FFT."""
    naive = MixedOp(DLSR_PRIMITIVES, 32, 32, impl="naive").train()
    fast, direct = copy.deepcopy(naive), copy.deepcopy(naive)
    fast.impl = direct.impl = "fast"
    direct.fft = False
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 32, 12, 12, generator=g)
    w = torch.softmax(torch.randn(len(DLSR_PRIMITIVES), generator=g), 0)
    gy = torch.randn(2, 32, 12, 12, generator=g)
    results = []
    for op in (naive, fast, direct):
        xi, wi = x.clone().requires_grad_(True), w.clone().requires_grad_(True)
        y = op(xi, wi)
        y.backward(gy)
        results.append([y, xi.grad, wi.grad] + [p.grad for p in op.parameters()])
    assert worthwhile(x, torch.zeros(32, 32, 7, 7))
    for other in results[1:]:
        for a, e in zip(other, results[0]):
            torch.testing.assert_close(a, e, rtol=0, atol=2e-5 * max(1.0, float(e.detach().abs().max())))


@pytest.mark.filterwarnings("ignore")  # torch.jit.trace's deprecation and constant-folding warnings
def test_traces_for_mac_counting():
    """``torch.jit.trace`` (fvcore's MAC count) hands sizes over as tensors: the FFT path still traces and agrees."""
    op = MixedOp(DLSR_PRIMITIVES, 32, 32, impl="fast").train()
    x = torch.rand(1, 32, 9, 9)
    w = torch.softmax(torch.zeros(len(DLSR_PRIMITIVES)), 0)
    with torch.no_grad():
        traced = torch.jit.trace(op, (x, w), check_trace=False)
        torch.testing.assert_close(traced(x, w), op(x, w), rtol=0, atol=1e-5)


def test_fft_step_ab_script_runs(tmp_path):
    """``benchmarks/fft_step_ab.py`` on a tiny supernet: runs, and writes both settings' step times and the ratio."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "fft_step_ab.py"
    out = tmp_path / "ab.json"
    subprocess.run([sys.executable, str(script), "--blocks", "1", "--feat", "32", "--batch", "2", "--lq", "16",
                    "--rounds", "1", "--json", str(out)], check=True, capture_output=True, timeout=300)
    r = json.loads(out.read_text())
    assert len(r["cpu_s"]["fft"]) == len(r["cpu_s"]["direct"]) == 1 and r["direct_over_fft"] > 0
