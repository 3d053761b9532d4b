"""Image IO, transforms, benchmark pairs, training patches and offline preparation, on real and hostile files."""
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from srnas.data.folders import TrainDataset
from srnas.data.imageio import list_images, read_image, write_image
from srnas.data.paired import BenchmarkDataset
from srnas.data.prepare import crop_positions, prepare
from srnas.data.resize import downscale
from srnas.data.transforms import augment, mod_crop, paired_random_crop
from srnas.errors import SrnasError


def _rgb(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.fixture
def set5_dir(repo_dir) -> Path:
    return repo_dir / "datasets" / "benchmark"


@pytest.fixture
def t91_dir(repo_dir) -> Path:
    return repo_dir / "datasets" / "T91"


# ---------------------------------------------------------------- image IO


def test_write_read_round_trip(tmp_path):
    img = _rgb(13, 17)
    write_image(tmp_path / "sub" / "a.png", img)
    assert np.array_equal(read_image(tmp_path / "sub" / "a.png"), img)
    assert [p.name for p in tmp_path.joinpath("sub").iterdir()] == ["a.png"]  # no temporary file left


def test_read_matches_opencv_on_real_png(t91_dir):
    path = list_images(t91_dir)[0]
    assert np.array_equal(read_image(path), cv2.imread(str(path), cv2.IMREAD_UNCHANGED)[:, :, ::-1])


def test_read_grayscale_copies_into_three_channels(tmp_path):
    gray = _rgb(9, 11)[:, :, 0]
    Image.fromarray(gray).save(tmp_path / "g.png")
    assert np.array_equal(read_image(tmp_path / "g.png"), np.stack([gray] * 3, axis=2))


def test_read_rgba_drops_alpha(tmp_path):
    img = _rgb(9, 11)
    Image.fromarray(np.dstack([img, np.full((9, 11), 7, np.uint8)])).save(tmp_path / "a.png")
    assert np.array_equal(read_image(tmp_path / "a.png"), img)


def test_read_palette_expands_to_rgb(tmp_path):
    pal = Image.fromarray(_rgb(9, 11)).convert("P")
    pal.save(tmp_path / "p.png")
    assert np.array_equal(read_image(tmp_path / "p.png"), np.asarray(pal.convert("RGB")))


def test_read_16bit_scales_to_8bit(tmp_path):
    vals = np.array([0, 128, 129, 385, 386, 65535, 32896, 1000], np.uint16)  # round(x/257): 0 0 1 1 2 255 128 4
    img16 = np.stack([vals, vals[::-1], vals], axis=1).reshape(1, 8, 3)  # RGB
    cv2.imwrite(str(tmp_path / "c16.png"), img16[:, :, ::-1])
    cv2.imwrite(str(tmp_path / "g16.png"), vals.reshape(1, 8))
    expect = np.array([0, 0, 1, 1, 2, 255, 128, 4], np.uint8)
    rgb = read_image(tmp_path / "c16.png")
    assert rgb.dtype == np.uint8 and rgb[0, :, 0].tolist() == expect.tolist()
    assert rgb[0, :, 1].tolist() == expect[::-1].tolist()  # channel order kept (BGR on disk -> RGB)
    assert read_image(tmp_path / "g16.png")[0, :, 2].tolist() == expect.tolist()


@pytest.mark.parametrize(
    "kind,match",
    [("missing", "no such image"), ("empty", "empty file"), ("text", "not an image"), ("truncated", "truncated")],
)
def test_read_hostile_files_name_the_file(tmp_path, kind, match):
    path = tmp_path / f"{kind}.png"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("this is not a PNG\n")
    elif kind == "truncated":
        write_image(tmp_path / "whole.png", _rgb(64, 64))
        data = (tmp_path / "whole.png").read_bytes()
        path.write_bytes(data[: len(data) // 2])
    with pytest.raises(SrnasError, match=match) as err:
        read_image(path)
    assert str(path) in str(err.value)


def test_list_images_sorted_filtered_and_errors(tmp_path):
    with pytest.raises(SrnasError, match="no such folder"):
        list_images(tmp_path / "nope")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(SrnasError, match="no image files"):
        list_images(tmp_path)
    for name in ("b.PNG", "a.jpg", "._a.png", "c.bmp"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in list_images(tmp_path)] == ["a.jpg", "b.PNG", "c.bmp"]


def test_write_image_rejects_bad_input(tmp_path):
    with pytest.raises(SrnasError, match="PNG only"):
        write_image(tmp_path / "a.jpg", _rgb(4, 4))
    with pytest.raises(SrnasError, match="uint8"):
        write_image(tmp_path / "a.png", _rgb(4, 4).astype(np.float32))


# ---------------------------------------------------------------- transforms


def _nearest_pair(h: int, w: int, s: int) -> tuple[np.ndarray, np.ndarray]:
    """An LQ of distinct-ish pixels and its nearest-neighbour xs GT: gt[::s, ::s] == lq iff aligned."""
    lq = _rgb(h, w, seed=7)
    return lq, np.repeat(np.repeat(lq, s, axis=0), s, axis=1)


def test_mod_crop():
    assert mod_crop(np.zeros((10, 13, 3)), 4).shape == (8, 12, 3)


def test_paired_random_crop_and_augment_stay_aligned():
    rng = np.random.default_rng(0)
    lq, gt = _nearest_pair(20, 24, 3)
    seen = set()
    for _ in range(64):
        lp, gp = paired_random_crop(lq, gt, 6, 3, rng)
        lp, gp = augment([lp, gp], hflip=True, rot=True, rng=rng)
        assert lp.shape == (6, 6, 3) and gp.shape == (18, 18, 3)
        assert np.array_equal(gp[::3, ::3], lp) and np.array_equal(gp[1::3, 2::3], lp)
        seen.add(lp.tobytes())
    assert len(seen) > 32  # positions and flips vary


def test_augment_reaches_all_eight_variants():
    rng = np.random.default_rng(1)
    img = np.arange(9, dtype=np.uint8).reshape(3, 3)
    variants = {augment([img], True, True, rng)[0].tobytes() for _ in range(200)}
    assert len(variants) == 8


def test_paired_random_crop_rejects_mismatch_and_small():
    lq, gt = _nearest_pair(8, 8, 2)
    with pytest.raises(SrnasError, match="is not 2x"):
        paired_random_crop(lq, gt[:-2], 4, 2, np.random.default_rng(0), name="x.png")
    with pytest.raises(SrnasError, match="smaller than the GT patch"):
        paired_random_crop(lq, gt, 9, 2, np.random.default_rng(0), name="x.png")


# ---------------------------------------------------------------- benchmark pairs


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_benchmark_set5_shapes(set5_dir, scale):
    ds = BenchmarkDataset(set5_dir, "Set5", scale)
    assert len(ds) == 5 and not ds.generated
    names = [it["name"] for it in ds]
    assert names == ["baby", "bird", "butterfly", "head", "woman"]
    for it in ds:
        hr = read_image(set5_dir / "Set5" / "HR" / f"{it['name']}.png")
        assert it["lq"].dtype == np.uint8 and it["lq"].shape[2] == 3
        assert it["gt"].shape == (it["lq"].shape[0] * scale, it["lq"].shape[1] * scale, 3)
        assert np.array_equal(it["gt"], mod_crop(hr, scale))


def test_benchmark_generates_lr_identical_to_shipped(set5_dir, tmp_path):
    shutil.copytree(set5_dir / "Set5" / "HR", tmp_path / "Set5" / "HR")
    generated = BenchmarkDataset(tmp_path, "Set5", 3)
    shipped = BenchmarkDataset(set5_dir, "Set5", 3)
    assert generated.generated
    for a, b in zip(generated, shipped):
        assert np.array_equal(a["lq"], b["lq"]) and np.array_equal(a["gt"], b["gt"])


def test_benchmark_urban100_lr_on_the_fly(shared_dir):
    ds = BenchmarkDataset(shared_dir / "data" / "benchmark", "Urban100", 4)
    assert ds.generated and len(ds) == 100
    it = ds[0]
    hr = read_image(shared_dir / "data" / "benchmark" / "Urban100" / "HR" / "img_001.png")
    assert it["lq"].shape == (hr.shape[0] // 4, hr.shape[1] // 4, 3)
    assert it["gt"].shape == (it["lq"].shape[0] * 4, it["lq"].shape[1] * 4, 3)


def test_benchmark_errors_name_what_is_wrong(set5_dir, tmp_path):
    with pytest.raises(SrnasError, match="root folder does not exist"):
        BenchmarkDataset(tmp_path / "nope", "Set5", 2)
    with pytest.raises(SrnasError, match="found in .*: Set5"):
        BenchmarkDataset(set5_dir, "Set6", 2)
    (tmp_path / "Empty" / "HR").mkdir(parents=True)
    with pytest.raises(SrnasError, match="no image files"):
        BenchmarkDataset(tmp_path, "Empty", 2)
    # LR folder present but one file missing
    shutil.copytree(set5_dir / "Set5", tmp_path / "S")
    (tmp_path / "S" / "LR_bicubic" / "X2" / "birdx2.png").unlink()
    with pytest.raises(SrnasError, match="birdx2.png: LR file missing"):
        BenchmarkDataset(tmp_path, "S", 2)


def test_benchmark_size_mismatch_names_the_file(set5_dir, tmp_path):
    shutil.copytree(set5_dir / "Set5", tmp_path / "S")
    lr_path = tmp_path / "S" / "LR_bicubic" / "X2" / "headx2.png"
    write_image(lr_path, read_image(lr_path)[:-1])
    ds = BenchmarkDataset(tmp_path, "S", 2)
    with pytest.raises(SrnasError, match="headx2.png: LR is"):
        ds[3]


# ---------------------------------------------------------------- training patches


def test_train_patches_shapes_ranges_and_exact_alignment(t91_dir):
    ds = TrainDataset(t91_dir, scale=3, lq_patch=12, index_range=(1, 4), augment=False, repeat=2)
    assert len(ds) == 8
    for i in range(len(ds)):
        it = ds[i]
        assert it["lq"].shape == (3, 12, 12) and it["gt"].shape == (3, 36, 36)
        assert it["lq"].dtype == torch.float32 and 0 <= float(it["lq"].min()) and float(it["gt"].max()) <= 1
        gt = (it["gt"] * 255).round().byte().permute(1, 2, 0).numpy()
        lq = (it["lq"] * 255).round().byte().permute(1, 2, 0).numpy()
        # interior LR pixels only see HR pixels inside the patch: the MATLAB bicubic of the GT patch equals them
        assert np.array_equal(downscale(gt, 3)[2:-2, 2:-2], lq[2:-2, 2:-2])


def test_train_patches_with_augment_stay_aligned(t91_dir):
    ds = TrainDataset(t91_dir, scale=2, lq_patch=16, index_range=(5, 6), augment=True, repeat=8, seed=3)
    for i in range(len(ds)):
        it = ds[i]
        gt = (it["gt"] * 255).round().byte().permute(1, 2, 0).numpy()
        lq = (it["lq"] * 255).round().byte().permute(1, 2, 0).numpy().astype(int)
        diff = np.abs(downscale(gt, 2)[2:-2, 2:-2].astype(int) - lq[2:-2, 2:-2])
        assert diff.max() <= 2  # flips/transpose change the rounding order only


def test_train_index_range_selects_sorted_files(t91_dir):
    names = [p.stem for p in list_images(t91_dir)]
    ds = TrainDataset(t91_dir, scale=2, lq_patch=8, index_range=(3, 5), preload=False)
    assert [p.stem for p in ds.hr_paths] == names[2:5]
    assert {ds[i]["name"] for i in range(3)} == set(names[2:5])
    with pytest.raises(SrnasError, match="index_range"):
        TrainDataset(t91_dir, scale=2, lq_patch=8, index_range=(0, 5), preload=False)
    with pytest.raises(SrnasError, match="index_range"):
        TrainDataset(t91_dir, scale=2, lq_patch=8, index_range=(90, 92), preload=False)


def test_train_lq_dir_and_small_image(tmp_path):
    write_image(tmp_path / "HR" / "a.png", _rgb(40, 44, 1))
    write_image(tmp_path / "HR" / "b.png", _rgb(20, 50, 2))
    write_image(tmp_path / "LR" / "ax2.png", downscale(_rgb(40, 44, 1), 2))
    with pytest.raises(SrnasError, match="bx2.png: LR file missing"):
        TrainDataset(tmp_path / "HR", 2, 8, lq_dir=tmp_path / "LR")
    write_image(tmp_path / "LR" / "bx2.png", downscale(_rgb(20, 50, 2), 2))
    with pytest.raises(SrnasError, match=r"b.png: 50x20 \(W x H\) is smaller than the HR patch 24x24"):
        TrainDataset(tmp_path / "HR", 2, 12, lq_dir=tmp_path / "LR")
    ds = TrainDataset(tmp_path / "HR", 2, 8, lq_dir=tmp_path / "LR", augment=False)
    assert ds[0]["gt"].shape == (3, 16, 16)
    write_image(tmp_path / "LR" / "bx2.png", downscale(_rgb(20, 50, 2), 2)[:-1])
    with pytest.raises(SrnasError, match="bx2.png: LR is"):
        TrainDataset(tmp_path / "HR", 2, 8, lq_dir=tmp_path / "LR")


def _batches(ds, workers: int, seed: int) -> list[torch.Tensor]:
    torch.manual_seed(seed)
    loader = DataLoader(ds, batch_size=4, shuffle=False, num_workers=workers)
    return [b["lq"] for _ in range(2) for b in loader]  # two epochs


def test_train_loader_workers_reproducible_and_varied(t91_dir):
    ds = TrainDataset(t91_dir, scale=2, lq_patch=8, index_range=(1, 4), repeat=2, seed=5)
    run_a, run_b = _batches(ds, 2, seed=11), _batches(ds, 2, seed=11)
    assert all(torch.equal(a, b) for a, b in zip(run_a, run_b))  # same torch seed -> same patches
    assert not torch.equal(run_a[0], run_a[2])  # epoch 2 differs from epoch 1
    assert not torch.equal(run_a[0], _batches(ds, 2, seed=12)[0])
    main_a, main_b = _batches(ds, 0, seed=11), _batches(ds, 0, seed=11)
    assert torch.equal(main_a[0], main_b[0]) and not torch.equal(main_a[0], main_a[2])


def test_train_patches_follow_torch_rng(t91_dir):
    ds = TrainDataset(t91_dir, scale=2, lq_patch=8, index_range=(1, 2))
    torch.manual_seed(0)
    state = torch.get_rng_state()
    first = ds[0]["lq"]
    torch.set_rng_state(state)
    assert torch.equal(ds[0]["lq"], first)
    assert not torch.equal(ds[0]["lq"], first)


# ---------------------------------------------------------------- offline preparation


def test_crop_positions_like_basicsr():
    assert crop_positions(1000, 480, 240) == [0, 240, 480, 520]
    assert crop_positions(960, 480, 240) == [0, 240, 480]
    assert crop_positions(1000, 480, 240, thresh_size=50) == [0, 240, 480]


def test_prepare_whole_images(tmp_path):
    hr = _rgb(26, 31)
    write_image(tmp_path / "in" / "img.png", hr)
    assert prepare(tmp_path / "in", tmp_path / "out", scales=(2, 3)) == 3
    assert np.array_equal(read_image(tmp_path / "out" / "HR" / "img.png"), hr)
    assert np.array_equal(read_image(tmp_path / "out" / "LR_bicubic" / "X3" / "imgx3.png"), downscale(hr, 3))
    ds = BenchmarkDataset(tmp_path, "out", 2)
    assert not ds.generated and ds[0]["gt"].shape == (26, 30, 3)
    with pytest.raises(SrnasError, match="img.png: already exists"):
        prepare(tmp_path / "in", tmp_path / "out", scales=(2, 3))
    assert prepare(tmp_path / "in", tmp_path / "out", scales=(2, 3), skip_existing=True) == 0
    assert prepare(tmp_path / "in", tmp_path / "out", scales=(2, 3), force=True) == 3


def test_prepare_subimages_aligned(tmp_path):
    hr = _rgb(50, 62, 4)  # modcrop(12) -> 48 x 60; crop 24 step 12: rows 0 12 24, cols 0 12 24 36 -> 12 crops
    write_image(tmp_path / "in" / "pic.png", hr)
    n = prepare(tmp_path / "in", tmp_path / "out", scales=(2, 3, 4), crop=24, step=12)
    assert n == 12 * 4
    names = sorted(p.name for p in (tmp_path / "out" / "HR").iterdir())
    assert names[0] == "pic_s001.png" and names[-1] == "pic_s012.png"
    # crops are numbered row by row, 4 per row: crop 7 is row 1 (top 12), column 2 (left 24)
    assert np.array_equal(read_image(tmp_path / "out" / "HR" / "pic_s007.png"), hr[12:36, 24:48])
    lr3 = read_image(tmp_path / "out" / "LR_bicubic" / "X3" / "pic_s007x3.png")
    assert np.array_equal(lr3, downscale(hr, 3)[4:12, 8:16])
    ds = TrainDataset(tmp_path / "out" / "HR", 4, 6, lq_dir=tmp_path / "out" / "LR_bicubic" / "X4")
    assert len(ds) == 12 and ds[0]["gt"].shape == (3, 24, 24)
    with pytest.raises(SrnasError, match="multiples of 12"):
        prepare(tmp_path / "in", tmp_path / "out2", scales=(2, 3, 4), crop=20, step=10)
