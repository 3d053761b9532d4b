"""Hostile inputs through the CLI: exit code 2, one line naming the file, nothing existing changed; or the documented
conversion (16-bit, grayscale, RGBA images)."""
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from srnas.archs import create_model
from srnas.cli import main
from srnas.data import read_image
from srnas.train.model_file import save_model_file

REPO = Path(__file__).resolve().parents[1]
SET5 = REPO / "datasets" / "benchmark" / "Set5"


@pytest.fixture(scope="module")
def tiny_model_file(tmp_path_factory):
    torch.manual_seed(0)
    model = create_model("imdn", scale=2, num_feat=16, num_block=1)
    return save_model_file(tmp_path_factory.mktemp("m") / "tiny.pth", model, step=0)


def _bench_set(root: Path, n: int = 2) -> Path:
    """A two-image benchmark set (Set5's baby and bird) under root/Bad."""
    s = root / "Bad"
    (s / "HR").mkdir(parents=True)
    (s / "LR_bicubic" / "X2").mkdir(parents=True)
    for name in ("baby", "bird")[:n]:
        shutil.copy(SET5 / "HR" / f"{name}.png", s / "HR")
        shutil.copy(SET5 / "LR_bicubic" / "X2" / f"{name}x2.png", s / "LR_bicubic" / "X2")
    return s


def _sabotage_truncated(s):
    p = s / "HR" / "bird.png"
    p.write_bytes(p.read_bytes()[:2000])
    return "bird.png"


def _sabotage_zero_bytes(s):
    (s / "HR" / "bird.png").write_bytes(b"")
    return "bird.png"


def _sabotage_not_an_image(s):
    (s / "HR" / "bird.png").write_text("this is not a png")
    return "bird.png"


def _sabotage_size_mismatch(s):
    img = Image.open(s / "LR_bicubic" / "X2" / "birdx2.png")
    img.crop((0, 0, img.width - 3, img.height)).save(s / "LR_bicubic" / "X2" / "birdx2.png")
    return "birdx2.png"


def _sabotage_wrong_scale_name(s):
    (s / "LR_bicubic" / "X2" / "birdx2.png").rename(s / "LR_bicubic" / "X2" / "birdx3.png")
    return "birdx2.png"


def _sabotage_no_images(s):
    for p in (s / "HR").iterdir():
        p.rename(p.with_suffix(".txt"))
    return "no image files"


@pytest.mark.parametrize("sabotage", [_sabotage_truncated, _sabotage_zero_bytes, _sabotage_not_an_image,
                                      _sabotage_size_mismatch, _sabotage_wrong_scale_name, _sabotage_no_images],
                         ids=lambda f: f.__name__.removeprefix("_sabotage_"))
def test_bench_rejects_bad_images_with_one_line(tmp_path, tiny_model_file, capsys, sabotage):
    s = _bench_set(tmp_path)
    expect = sabotage(s)
    before = {p: p.read_bytes() for p in s.rglob("*") if p.is_file()}
    out = tmp_path / "r.json"
    out.write_text("previous results")
    code = main(["bench", "--weights", str(tiny_model_file), "--datasets", "Bad", "--data-root", str(tmp_path),
                 "--json", str(out), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and expect in err[0], err
    assert out.read_text() == "previous results"
    assert {p: p.read_bytes() for p in s.rglob("*") if p.is_file()} == before


def _write_png16(path: Path, rgb16: np.ndarray) -> None:
    """A 16-bit RGB PNG written by hand (Pillow cannot write 16-bit RGB)."""
    h, w, _ = rgb16.shape
    raw = b"".join(b"\x00" + rgb16[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_documented_conversions_16bit_gray_rgba(tmp_path):
    rgb = read_image(SET5 / "HR" / "bird.png")
    _write_png16(tmp_path / "b16.png", rgb.astype(np.uint16) * 257)
    assert np.array_equal(read_image(tmp_path / "b16.png"), rgb)  # 16-bit: round(x / 257)
    Image.fromarray(rgb[..., 0]).save(tmp_path / "gray.png")
    gray = read_image(tmp_path / "gray.png")
    assert gray.shape == rgb.shape and np.array_equal(gray[..., 0], gray[..., 2])  # gray: copied into 3 channels
    Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 7, np.uint8)])).save(tmp_path / "rgba.png")
    assert np.array_equal(read_image(tmp_path / "rgba.png"), rgb)  # RGBA: alpha dropped


def test_bench_runs_on_converted_images(tmp_path, tiny_model_file):
    s = _bench_set(tmp_path)
    img = read_image(s / "HR" / "bird.png")
    Image.fromarray(np.dstack([img, np.full(img.shape[:2], 255, np.uint8)])).save(s / "HR" / "bird.png")
    assert main(["bench", "--weights", str(tiny_model_file), "--datasets", "Bad", "--data-root", str(tmp_path),
                 "--no-progress", "--no-ssim"]) == 0


SEARCH = """\
name: h
network_g: {{type: imdn, num_feat: 16, num_block: 1}}
datasets:
  train: {{hr_dir: {hr}, lq_patch: {patch}, batch_size: 2}}
  arch: {{hr_dir: {hr}, lq_patch: {patch}, batch_size: 2}}
search: {{iters: 1, epoch_length: 1}}
logger: {{use_tb_logger: false}}
path: {{experiments_root: {root}}}
"""


@pytest.mark.parametrize("case", ["small", "corrupt", "empty_dir"])
def test_search_rejects_bad_training_folders_before_touching_experiments(tmp_path, capsys, case):
    hr = tmp_path / "hr"
    hr.mkdir()
    shutil.copy(SET5 / "HR" / "bird.png", hr)
    patch = 16
    if case == "small":
        patch = 200  # bird is 288x288: smaller than a 400x400 HR patch
    elif case == "corrupt":
        (hr / "zz.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    else:
        (hr / "bird.png").unlink()
    exp = tmp_path / "exps" / "h"
    exp.mkdir(parents=True)
    (exp / "genotype.json").write_text("precious")
    opt = tmp_path / "o.yml"
    opt.write_text(SEARCH.format(hr=hr, patch=patch, root=tmp_path / "exps"))
    assert main(["search", "-opt", str(opt), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(hr) in err[0], err
    assert sorted(p.name for p in (tmp_path / "exps").iterdir()) == ["h"]
    assert (exp / "genotype.json").read_text() == "precious"


def test_genotype_with_unknown_op_and_checkpoint_with_missing_keys(tmp_path, tiny_model_file, capsys):
    g = tmp_path / "g.json"
    g.write_text('{"space": "imdn", "num_feat": 16, "num_block": 1, "ops": ["conv3", "conv3", "warp9", "conv3"]}')
    assert main(["profile", "--genotype", str(g)]) == 2
    assert "unknown op 'warp9'" in capsys.readouterr().err
    sd = torch.load(tiny_model_file, weights_only=True)
    del sd["model"]["fea_conv.weight"]
    sd["model"]["extra.weight"] = torch.zeros(1)
    bad = tmp_path / "bad.pth"
    torch.save(sd, bad)
    assert main(["bench", "--weights", str(bad), "--datasets", "Set5", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "missing" in err and "unexpected" in err and len(err.strip().splitlines()) == 1


class Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_pickle_that_needs_code_is_refused(tmp_path, capsys):
    p = tmp_path / "evil.pth"
    torch.save({"model": Evil()}, p)
    assert main(["bench", "--arch", "imdn", "--weights", str(p), "--datasets", "Set5", "--no-progress"]) == 2
    captured = capsys.readouterr()
    assert "pwned" not in captured.out and "refus" in captured.err.lower()


# One guarded reader (srnas.data.read_image) for every command that reads images: each hostile file below gives one
# line naming it and exit code 2, in bench, infer, export (parity image), int8 calibration and data prepare.
def _huge_png(path: Path) -> None:
    """A valid PNG header claiming 40000x40000 pixels (1.6 GP) with a few bytes of data: a decompression bomb."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 40000, 40000, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def _huge_bmp(path: Path) -> None:
    """A BMP header claiming 30000x30000 pixels and no pixel data."""
    dib = struct.pack("<IiiHHIIiiII", 40, 30000, 30000, 1, 24, 0, 0, 2835, 2835, 0, 0)
    path.write_bytes(b"BM" + struct.pack("<IHHI", 14 + len(dib), 0, 0, 14 + len(dib)) + dib)


def _float_tiff(path: Path) -> None:
    Image.fromarray(np.random.default_rng(0).random((32, 32), dtype=np.float32)).save(path, format="TIFF")


def _truncated_png16(path: Path) -> None:
    _write_png16(path, np.full((40, 40, 3), 1000, np.uint16))
    path.write_bytes(path.read_bytes()[:60])


HOSTILE = {
    "empty": lambda p: p.write_bytes(b""),
    "truncated": lambda p: p.write_bytes((SET5 / "HR" / "bird.png").read_bytes()[:2000]),
    "not_an_image": lambda p: p.write_text("this is not a png"),
    "random_bytes": lambda p: p.write_bytes(bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8))),
    "huge_png": _huge_png,
    "huge_bmp": _huge_bmp,
    "float_tiff": _float_tiff,
    "truncated_16bit": _truncated_png16,
    "folder": lambda p: p.mkdir(),
}


def _one_line(capsys, name: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and name in err[0], err
    return err[0]


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_every_command_refuses_hostile_images_with_one_line(tmp_path, tiny_model_file, capsys, case):
    make = HOSTILE[case]
    # bench: the hostile file in place of an HR image
    s = _bench_set(tmp_path / "bench")
    (s / "HR" / "bird.png").unlink()
    make(s / "HR" / "bird.png")
    assert main(["bench", "--weights", str(tiny_model_file), "--datasets", "Bad", "--data-root",
                 str(tmp_path / "bench"), "--no-progress", "--no-ssim"]) == 2
    _one_line(capsys, "bird")
    # infer: the hostile file as input, alone and in a folder
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(SET5 / "LR_bicubic" / "X2" / "babyx2.png", folder / "a.png")
    make(folder / "z.png")
    for src in ([folder / "z.png"] if case == "folder" else [folder / "z.png", folder]):
        assert main(["infer", "--model", str(tiny_model_file), "--input", str(src), "--output", str(tmp_path / "out"),
                     "--no-progress"]) == 2
        _one_line(capsys, "z.png")
    assert not (tmp_path / "out").exists()
    # export's parity image, int8 calibration, data prepare
    out = tmp_path / "m.onnx"
    assert main(["export", "--weights", str(tiny_model_file), "--out", str(out), "--check-image",
                 str(folder / "z.png")]) == 2
    _one_line(capsys, "z.png")
    if case != "folder":  # a folder inside a folder of images is skipped, not read
        calib = tmp_path / "calib"
        calib.mkdir()
        make(calib / "t.png")
        assert main(["export", "--weights", str(tiny_model_file), "--out", str(out), "--quantize", "int8",
                     "--calib", str(calib)]) == 2
        _one_line(capsys, "t.png")
        assert main(["data", "prepare", "--hr", str(calib), "--out", str(tmp_path / "prep"), "--scales", "2",
                     "--no-progress"]) == 2
        _one_line(capsys, "t.png")
    assert not out.exists()


def test_image_too_small_for_the_network_is_named(tmp_path, capsys):
    """DLSR's ESA needs 15 pixels per side: a smaller image is refused by name, not failed inside the network."""
    torch.manual_seed(0)
    dlsr = create_model("dlsr", scale=2, num_feat=8, num_block=3, ops=["conv_3x3"] * 3, connections=[[1, 2]])
    model = save_model_file(tmp_path / "dlsr.pth", dlsr, step=0)
    small = tmp_path / "small.png"
    Image.fromarray(read_image(SET5 / "LR_bicubic" / "X2" / "birdx2.png")[:12, :40]).save(small)
    assert main(["infer", "--model", str(model), "--input", str(small), "--output", str(tmp_path / "o"),
                 "--no-progress"]) == 2
    assert "needs at least 15" in _one_line(capsys, "small.png")
    s = tmp_path / "S"
    (s / "HR").mkdir(parents=True)
    (s / "LR_bicubic" / "X2").mkdir(parents=True)
    Image.fromarray(read_image(SET5 / "HR" / "bird.png")[:24, :80]).save(s / "HR" / "bird.png")
    shutil.copy(small, s / "LR_bicubic" / "X2" / "birdx2.png")
    assert main(["bench", "--weights", str(model), "--datasets", "S", "--data-root", str(tmp_path),
                 "--no-progress"]) == 2
    _one_line(capsys, "birdx2.png")
