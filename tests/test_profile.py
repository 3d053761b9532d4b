"""Params and MACs (fvcore, convs/matmuls only, no bias): the method notes' §4 cost tables and §8.18 totals.

The full-size counts take 15-50 s of CPU each, so the fast tests count a small input and extrapolate with the exact
pixel law of the network (checked against an independent count from the weight shapes); the full-size runs are
``slow`` tests."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from srnas.archs import create_model
from srnas.archs.ops import DLSR_PRIMITIVES, IMDN_PRIMITIVES
from srnas.eval.profile import count_macs, lr_input_hw, op_macs_per_pixel, profile

# method notes §4: MACs per LR pixel, no bias
DLSR_COSTS = [2304, 20736, 57600, 112896, 5472, 7008, 9312, 2736, 3504]
IMDN_COSTS = {(64, 64): [36864, 102400, 4672, 5696, 4672, 5696],
              (48, 64): [27648, 76800, 3504, 4272, 3504, 4272],
              (48, 16): [6912, 19200, 1200, 1968, 1200, 1968]}
CCA_MACS = 6 * 2 * 64 * 4  # IMDN: six CCAs, 1x1 convs 64->4->64 on the pooled 1x1 map: independent of the image size


@pytest.mark.parametrize("scale, hw", [(2, (360, 640)), (3, (240, 427)), (4, (180, 320))])
def test_lr_input_for_a_1280x720_output(scale, hw):
    assert lr_input_hw(scale) == hw


@pytest.mark.parametrize("op, cost", list(zip(DLSR_PRIMITIVES, DLSR_COSTS)))
def test_dlsr_op_costs_match_table(op, cost):
    assert op_macs_per_pixel(op, 48, 48) == cost


def test_extra_ops_cost_nothing():
    assert op_macs_per_pixel("skip_connect", 48, 48) == 0 and op_macs_per_pixel("none", 48, 48) == 0


@pytest.mark.parametrize("shape", list(IMDN_COSTS))
def test_imdn_op_costs_match_table_and_bn_is_free(shape):
    plain = [op_macs_per_pixel(op, *shape) for op in IMDN_PRIMITIVES[:6]]
    with_bn = [op_macs_per_pixel(op, *shape) for op in IMDN_PRIMITIVES[6:]]
    assert plain == IMDN_COSTS[shape] and with_bn == plain


class _Elementwise(nn.Module):
    def forward(self, x):
        y = x * torch.sigmoid(x) + x.mean(dim=(2, 3), keepdim=True)
        y = F.interpolate(F.max_pool2d(y, 2), scale_factor=2, mode="bilinear", align_corners=False)
        return F.adaptive_avg_pool2d(F.batch_norm(y, torch.zeros(4), torch.ones(4)), 2)


def test_elementwise_resampling_and_norms_are_not_counted():
    assert count_macs(_Elementwise(), torch.rand(1, 4, 8, 8)) == 0


def test_linear_and_conv_are_counted_without_bias():
    model = nn.Sequential(nn.Conv2d(3, 5, 3, padding=1, bias=True), nn.Flatten(), nn.Linear(5 * 4 * 4, 7))
    assert count_macs(model, torch.rand(1, 3, 4, 4)) == 16 * 5 * 3 * 9 + 80 * 7


def _imdn_macs_per_pixel(model: nn.Module) -> int:
    """Weight elements of every conv except CCA's (all stride 1, same padding: one MAC per weight per LR pixel)."""
    return sum(m.weight.numel() for name, m in model.named_modules()
               if isinstance(m, nn.Conv2d) and ".cca." not in name)


@pytest.mark.parametrize("scale, full_hw, expected", [
    (2, (360, 640), 158_765_878_272),  # IMDN paper: 158.8 G for a 1280x720 output
    (4, (720, 1280), 654_173_801_472),  # SA-DARTS' IMDN row at a 1280x720 input (654.53 G with the CCA multiply)
])
def test_imdn_macs(scale, full_hw, expected):
    model = create_model("imdn", scale=scale)
    small = (full_hw[0] // 10, full_hw[1] // 10)
    per_pixel = _imdn_macs_per_pixel(model)
    assert profile(model, scale, input_hw=small)["macs"] == small[0] * small[1] * per_pixel + CCA_MACS
    assert full_hw[0] * full_hw[1] * per_pixel + CCA_MACS == expected


def _dlsr_hand_macs(model: nn.Module, h: int, w: int) -> int:
    """Independent count: ESA's conv2 runs at stride 2, conv_max/conv3/conv3_ after a 7/3 max-pool; rest at h x w."""
    h2, w2 = (h - 3) // 2 + 1, (w - 3) // 2 + 1
    hp, wp = (h2 - 7) // 3 + 1, (w2 - 7) // 3 + 1
    reduced = {"conv2": h2 * w2, "conv_max": hp * wp, "conv3": hp * wp, "conv3_": hp * wp}
    total = 0
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            leaf = name.rsplit(".", 1)[-1]
            total += m.weight.numel() * (reduced[leaf] if ".esa." in name and leaf in reduced else h * w)
    return total


def test_dlsr_macs_match_hand_count():
    model = create_model("dlsr", scale=2)
    assert profile(model, 2, input_hw=(40, 56))["macs"] == _dlsr_hand_macs(model, 40, 56)
    assert _dlsr_hand_macs(model, 360, 640) == 67_306_238_496  # method notes: ~67.3 G by hand; DLSR paper 68 G


def test_profile_reports_params_and_restores_mode():
    model = create_model("imdn", scale=3, num_feat=16, num_block=2).train()
    stats = profile(model, 3, output_hw=(48, 60))
    assert stats["params"] == sum(p.numel() for p in model.parameters())
    assert stats["input_hw"] == (16, 20) and stats["macs"] > 0
    assert model.training


@pytest.mark.slow
@pytest.mark.parametrize("arch, scale, input_hw, expected", [
    ("imdn", 2, None, 158_765_878_272),
    ("imdn", 4, (720, 1280), 654_173_801_472),
    ("dlsr", 2, None, 67_306_238_496),
])
def test_full_size_macs(arch, scale, input_hw, expected):
    assert profile(create_model(arch, scale=scale), scale, input_hw=input_hw)["macs"] == expected
