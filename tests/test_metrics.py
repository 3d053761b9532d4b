"""PSNR/SSIM on Y: hand-computed values, the RGB/BGR trap, and the bicubic baseline table."""
import math

import numpy as np
import pytest
import torch

from srnas.data.imageio import read_image
from srnas.data.paired import BenchmarkDataset
from srnas.data.resize import bicubic_upscale
from srnas.data.transforms import img2tensor
from srnas.errors import SrnasError
from srnas.eval.metrics import calculate_psnr_y, calculate_ssim_y, tensor_to_uint8

Y_R, Y_G, Y_B = 65.481, 128.553, 24.966  # BT.601 Y for RGB in [0, 1]


def _image(seed: int = 0, shape=(32, 40, 3)) -> np.ndarray:
    return np.random.default_rng(seed).integers(30, 200, shape, dtype=np.uint8)


def test_psnr_constant_offset_matches_hand_value():
    gt = _image()
    sr = gt + np.uint8(10)  # Y differs by 10 * (65.481 + 128.553 + 24.966) / 255 = 10 * 219 / 255 everywhere
    expected = 20 * math.log10(255 / (10 * 219 / 255))
    assert calculate_psnr_y(sr, gt, border=0) == pytest.approx(expected, abs=1e-4)


def test_psnr_red_offset_detects_channel_order():
    # +10 on R only: Y changes by 10 * 65.481 / 255. Were the channels swapped (BGR/RGB trap), it would be 24.966.
    gt = _image(1)
    sr = gt.copy()
    sr[..., 0] += 10
    expected = 20 * math.log10(255 / (10 * Y_R / 255))
    swapped = 20 * math.log10(255 / (10 * Y_B / 255))
    got = calculate_psnr_y(sr, gt, border=0)
    assert got == pytest.approx(expected, abs=1e-4)
    assert abs(got - swapped) > 5


def test_psnr_border_crops_each_side():
    gt = _image(2)
    sr = gt.copy()
    sr[:3] = 0  # damage only the top 3 rows
    assert calculate_psnr_y(sr, gt, border=3) == math.inf
    assert calculate_psnr_y(sr, gt, border=2) < 40


def test_ssim_identical_is_one_and_noise_lowers_it():
    gt = _image(3)
    assert calculate_ssim_y(gt, gt, border=2) == pytest.approx(1.0, abs=1e-12)
    noisy = np.clip(gt.astype(int) + np.random.default_rng(4).integers(-60, 61, gt.shape), 0, 255).astype(np.uint8)
    assert 0 < calculate_ssim_y(noisy, gt, border=2) < 0.9


def test_ssim_flat_images_match_hand_value():
    # flat images: variances vanish, SSIM = (2 y1 y2 + C1) / (y1^2 + y2^2 + C1) with C1 = (0.01 * 255)^2
    y1, y2, c1 = 16 + 100 * 219 / 255, 16 + 180 * 219 / 255, (0.01 * 255) ** 2
    a, b = np.full((20, 20, 3), 100, np.uint8), np.full((20, 20, 3), 180, np.uint8)
    assert calculate_ssim_y(a, b, border=1) == pytest.approx((2 * y1 * y2 + c1) / (y1**2 + y2**2 + c1), abs=1e-6)


def test_metrics_reject_bad_inputs():
    gt = _image()
    with pytest.raises(SrnasError, match="shape"):
        calculate_psnr_y(gt[:-1], gt, border=0)
    with pytest.raises(SrnasError, match="uint8"):
        calculate_psnr_y(gt.astype(np.float32), gt, border=0)
    with pytest.raises(SrnasError, match="11x11"):
        calculate_ssim_y(gt, gt, border=12)


def test_tensor_to_uint8_clamps_and_rounds():
    t = torch.tensor([-0.1, 0.0, 0.4 / 255, 0.6 / 255, 1.49 / 255, 0.5, 1.0, 1.7]).view(1, 1, 8).expand(3, 1, 8)
    out = tensor_to_uint8(t)
    assert out.shape == (1, 8, 3) and out.dtype == np.uint8
    assert out[0, :, 0].tolist() == [0, 0, 0, 1, 1, 128, 255, 255]  # 127.5 -> 128
    assert tensor_to_uint8(t.unsqueeze(0) * 255, rgb_range=255).tolist() == out.tolist()


def test_img2tensor_round_trip():
    img = _image(5)
    for rgb_range in (1.0, 255.0):
        t = img2tensor(img, rgb_range)
        assert t.shape == (3, 32, 40) and t.dtype == torch.float32 and float(t.max()) <= rgb_range
        assert np.array_equal(tensor_to_uint8(t, rgb_range), img)


SET5_BICUBIC = {2: 33.673, 3: 30.403, 4: 28.429}  # ../shared/data/README.md, published 33.66 / 30.39 / 28.42


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bicubic_baseline_set5(repo_dir, scale):
    ds = BenchmarkDataset(repo_dir / "datasets" / "benchmark", "Set5", scale)
    psnr = np.mean([calculate_psnr_y(bicubic_upscale(it["lq"], scale), it["gt"], scale) for it in ds])
    assert psnr == pytest.approx(SET5_BICUBIC[scale], abs=5e-4)


SET14_BICUBIC = {2: 30.230, 3: 27.537, 4: 25.994}  # table uses bridge's gray values as Y


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bicubic_baseline_set14(shared_dir, scale):
    ds = BenchmarkDataset(shared_dir / "data" / "benchmark", "Set14", scale)
    psnrs, psnrs_gray_y = [], []
    for it in ds:
        sr = bicubic_upscale(it["lq"], scale)
        psnrs.append(calculate_psnr_y(sr, it["gt"], scale))
        if it["name"] == "bridge":  # MATLAB convention of the table: the gray values are Y
            diff = sr[scale:-scale, scale:-scale, 0].astype(np.float64) - it["gt"][scale:-scale, scale:-scale, 0]
            psnrs_gray_y.append(10 * math.log10(255**2 / np.mean(diff**2)))
        else:
            psnrs_gray_y.append(psnrs[-1])
    assert np.mean(psnrs_gray_y) == pytest.approx(SET14_BICUBIC[scale], abs=5e-4)
    assert np.mean(psnrs) - np.mean(psnrs_gray_y) == pytest.approx(0.094, abs=0.01)  # 3-channel bridge: +0.09 dB


def test_bridge_reads_as_three_equal_channels(shared_dir):
    img = read_image(shared_dir / "data" / "benchmark" / "Set14" / "HR" / "bridge.png")
    assert img.ndim == 3 and img.shape[2] == 3
    assert np.array_equal(img[..., 0], img[..., 1]) and np.array_equal(img[..., 0], img[..., 2])


@pytest.mark.slow  # ~10 s; B100 LR bit-exactness is in the default run (test_resize.py)
@pytest.mark.parametrize("scale,expected", [(2, 29.560), (3, 27.209), (4, 25.961)])
def test_bicubic_baseline_b100(shared_dir, scale, expected):
    ds = BenchmarkDataset(shared_dir / "data" / "benchmark", "B100", scale)
    psnr = np.mean([calculate_psnr_y(bicubic_upscale(it["lq"], scale), it["gt"], scale) for it in ds])
    assert psnr == pytest.approx(expected, abs=5e-4)
