"""DepthwiseConv2d: the fast backward equals ATen's (the same sums in another order)."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from srnas.archs.depthwise import DepthwiseConv2d, depthwise_same, plain_depthwise


@pytest.mark.parametrize("k,d", [(3, 1), (5, 1), (3, 2), (5, 2), (3, 3)])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("bias", [False, True])
def test_gradients_equal_aten(k, d, channels_last, bias):
    g = torch.Generator().manual_seed(k * 10 + d)
    x = torch.randn(3, 5, 11, 8, generator=g, dtype=torch.float64)  # odd, non-square sizes
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_()
    w = torch.randn(5, 1, k, k, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(5, generator=g, dtype=torch.float64, requires_grad=True) if bias else None
    go = torch.randn(3, 5, 11, 8, generator=g, dtype=torch.float64)
    inputs = (x, w) + ((b,) if bias else ())
    p = d * (k // 2)
    ref = torch.autograd.grad(F.conv2d(x, w, b, padding=p, dilation=d, groups=5), inputs, go)
    out = depthwise_same(x, w, b, d, p)
    assert torch.allclose(out, F.conv2d(x, w, b, padding=p, dilation=d, groups=5), rtol=0, atol=1e-12)
    new = torch.autograd.grad(out, inputs, go)
    for r, n in zip(ref, new):
        assert torch.allclose(r, n, rtol=1e-10, atol=1e-10)


def test_gradcheck():
    x = torch.randn(2, 3, 7, 6, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 1, 3, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, w, b: depthwise_same(x, w, b, 2, 2), (x, w, b))


def test_module_is_a_conv2d_with_the_same_keys_and_eval_forward():
    torch.manual_seed(0)
    m = DepthwiseConv2d(6, 5, dilation=2)
    ref = nn.Conv2d(6, 6, 5, padding=4, dilation=2, groups=6)
    ref.load_state_dict(m.state_dict())  # strict: same keys and shapes
    x = torch.randn(2, 6, 9, 9)
    with torch.no_grad():
        assert torch.equal(m.eval()(x), ref(x))
    m.train()
    y = m(x.requires_grad_())
    assert y.grad_fn is not None and "DepthwiseSame" in type(y.grad_fn).__name__
    assert not DepthwiseConv2d(4, 3).fast_backward  # 3x3 undilated: ATen's backward is as fast
    with pytest.raises(ValueError, match="odd"):
        DepthwiseConv2d(4, 4)


def test_bf16_autocast_gradients_keep_parameter_dtype():
    m = DepthwiseConv2d(4, 3, dilation=2)
    x = torch.randn(2, 4, 8, 8, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = m(x)
    assert y.dtype == torch.bfloat16
    y.float().sum().backward()
    assert m.weight.grad.dtype == torch.float32 and x.grad.dtype == torch.float32
    assert torch.isfinite(m.weight.grad).all()


def test_plain_depthwise_swaps_the_class_in_place():
    seq = nn.Sequential(DepthwiseConv2d(4, 3), nn.Conv2d(4, 4, 1))
    w = seq[0].weight
    plain_depthwise(seq)
    assert type(seq[0]) is nn.Conv2d and seq[0].weight is w
