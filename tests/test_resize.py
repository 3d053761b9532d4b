"""MATLAB-exact bicubic: bit-exact against every shipped benchmark LR file."""
from pathlib import Path

import numpy as np
import pytest
from basicsr.utils.matlab_functions import imresize as basicsr_imresize

from srnas.data.imageio import read_image
from srnas.data.resize import bicubic_upscale, downscale, imresize_matlab
from srnas.errors import SrnasError


def _count_mismatches(set_dir: Path) -> tuple[int, int, int]:
    """(pairs checked, pairs with a differing pixel, differing pixels) of downscale(HR) vs LR_bicubic files."""
    pairs = bad_pairs = bad_pixels = 0
    for s in (2, 3, 4):
        for lr_path in sorted((set_dir / "LR_bicubic" / f"X{s}").glob("*.png")):
            hr = read_image(set_dir / "HR" / (lr_path.stem[: -len(f"x{s}")] + ".png"))
            ours, ref = downscale(hr, s), read_image(lr_path)
            assert ours.shape == ref.shape, lr_path
            diff = int((ours != ref).sum())
            pairs, bad_pairs, bad_pixels = pairs + 1, bad_pairs + (diff > 0), bad_pixels + diff
    return pairs, bad_pairs, bad_pixels


def test_downscale_set5_bit_exact(repo_dir):
    assert _count_mismatches(repo_dir / "datasets" / "benchmark" / "Set5") == (15, 0, 0)


@pytest.mark.parametrize("name,pairs", [("Set5", 15), ("Set14", 42), ("B100", 300)])
def test_downscale_shared_benchmarks_bit_exact(shared_dir, name, pairs):
    # 357 files in all, ~4 s: every pixel of every shipped LR file
    assert _count_mismatches(shared_dir / "data" / "benchmark" / name) == (pairs, 0, 0)


def test_imresize_scale_one_is_identity():
    img = np.random.default_rng(0).integers(0, 256, (7, 9, 3), dtype=np.uint8)
    assert np.array_equal(imresize_matlab(img, 1.0), img)


def test_imresize_gray_equals_each_channel():
    img = np.random.default_rng(1).integers(0, 256, (24, 30, 3), dtype=np.uint8)
    rgb = imresize_matlab(img, 1 / 3)
    for c in range(3):
        assert np.array_equal(imresize_matlab(np.ascontiguousarray(img[:, :, c]), 1 / 3), rgb[:, :, c])


def test_imresize_close_to_basicsr_float_pipeline():
    # basicsr's imresize is the same kernel in float32 without the uint8 rounding between passes: 1-2 levels apart
    img = np.random.default_rng(2).integers(0, 256, (40, 36, 3), dtype=np.uint8)
    ref = np.clip(np.round(basicsr_imresize(img.astype(np.float32) / 255.0, 1 / 2) * 255.0), 0, 255)
    ours = downscale(img, 2).astype(np.float64)
    assert ours.shape == ref.shape == (20, 18, 3)
    assert np.abs(ours - ref).max() <= 2
    assert (ours != ref).mean() < 0.3  # ~16 % here; README: 10-15 % on Set5


def test_output_sizes_match_matlab_ceil():
    img = np.zeros((255, 100, 3), dtype=np.uint8)
    assert imresize_matlab(img, 1 / 3).shape == (85, 34, 3)  # 255/3 exactly; 100/3 -> ceil 34
    assert downscale(img, 3).shape == (85, 33, 3)  # modcrop first
    assert bicubic_upscale(downscale(img, 4), 4).shape == (252, 100, 3)


def test_constant_image_stays_constant():
    img = np.full((30, 30, 3), 137, dtype=np.uint8)
    assert np.all(downscale(img, 3) == 137)
    assert np.all(bicubic_upscale(img, 2) == 137)


def test_rejects_non_uint8_and_bad_scale():
    with pytest.raises(SrnasError, match="uint8"):
        imresize_matlab(np.zeros((8, 8, 3), dtype=np.float32), 0.5)
    with pytest.raises(SrnasError, match="positive integer"):
        downscale(np.zeros((8, 8, 3), dtype=np.uint8), 1.5)
    with pytest.raises(SrnasError, match="smaller than the scale"):
        downscale(np.zeros((3, 8, 3), dtype=np.uint8), 4)
