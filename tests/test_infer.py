"""Inference: tiling (exact for conv-only networks, bounded for IMDN), ONNX vs checkpoint, hostile inputs."""
import logging

import numpy as np
import pytest
import torch
from torch import nn

from srnas.archs import create_model
from srnas.archs.genotype import Genotype
from srnas.cli import main
from srnas.data import read_image, write_image
from srnas.eval.bench import default_data_root
from srnas.eval.metrics import tensor_to_uint8
from srnas.export import export_model, load_onnx
from srnas.export.parity import image_crops
from srnas.infer import probe_scale, tile_grid, upscale_array, upscale_tensor

SET5_X2 = default_data_root() / "Set5" / "LR_bicubic" / "X2"


def _conv_only() -> nn.Module:
    """Three 3x3 convs + PixelShuffle: receptive-field radius 3 LR pixels."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.LeakyReLU(0.05), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(8, 12, 3, padding=1), nn.PixelShuffle(2)).eval()


def _image_2000() -> np.ndarray:
    """A real 2000x2000 image: Set5 baby (512x512 HR) repeated."""
    hr = read_image(default_data_root() / "Set5" / "HR" / "baby.png")
    return np.ascontiguousarray(np.tile(hr, (4, 4, 1))[:2000, :2000])


@pytest.mark.parametrize("h, w, tile, overlap", [(2000, 2000, 256, 3), (37, 50, 16, 5), (10, 7, 32, 4)])
def test_tile_grid_partitions_image_with_context(h, w, tile, overlap):
    tiles = tile_grid(h, w, tile, overlap)
    cover = np.zeros((h, w), dtype=int)
    for t in tiles:
        y0, y1, x0, x1 = t.core
        wy0, wy1, wx0, wx1 = t.window
        cover[y0:y1, x0:x1] += 1
        assert (wy1 - wy0, wx1 - wx0) == (min(h, tile + 2 * overlap), min(w, tile + 2 * overlap))
        assert wy0 <= y0 and wx0 <= x0 and y1 <= wy1 and x1 <= wx1
        assert min(y0 - wy0, y0) >= min(overlap, y0) and min(wy1 - y1, h - y1) >= min(overlap, h - y1)
        assert min(x0 - wx0, x0) >= min(overlap, x0) and min(wx1 - x1, w - x1) >= min(overlap, w - x1)
    assert (cover == 1).all()


def test_tiled_equals_untiled_for_conv_only_network():
    """2000x2000 input, tiles of 256: with overlap = radius the output equals the whole-image output (float within
    summation-order rounding, the written uint8 image exactly); with overlap < radius it does not."""
    net, lq = _conv_only(), _image_2000()
    x = torch.from_numpy(lq.transpose(2, 0, 1).copy()).unsqueeze(0).float() / 255
    with torch.no_grad():
        whole = net(x)
    tiled = upscale_tensor(net, x, 2, tile=256, overlap=3, mode="approx")
    short = upscale_tensor(net, x, 2, tile=256, overlap=2, mode="approx")
    assert (whole - tiled).abs().max().item() <= 1e-6
    assert (whole - short).abs().max().item() > 1e-3
    assert np.array_equal(upscale_array(net, lq, 2, tile=256, overlap=3, mode="approx"), tensor_to_uint8(whole))


def test_approximate_tiled_imdn_within_measured_bound(shared_dir):
    """Approximate tiling: IMDN's CCA (global mean/std) makes tiles differ from the whole image: measured 69.6 dB PSNR, max abs diff
    0.0068 for official IMDN x2, babyx2 96x96 centre, tile 32, overlap 16."""
    model = create_model("imdn", scale=2, weights=shared_dir / "weights" / "imdn" / "IMDN_x2.pth").eval()
    x = image_crops(read_image(SET5_X2 / "babyx2.png"), [(96, 96)])[0]
    whole = upscale_tensor(model, x, 2).clamp(0, 1)
    tiled = upscale_tensor(model, x, 2, tile=32, overlap=16, mode="approx").clamp(0, 1)
    diff = (whole - tiled).abs().max().item()
    psnr = 10 * np.log10(1 / ((whole - tiled) ** 2).mean().item())
    assert 0 < diff <= 0.02  # not exact (global statistics), but close
    assert psnr >= 60


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A small IMDN-space checkpoint + genotype, and its ONNX export: (genotype, checkpoint, onnx, model)."""
    d = tmp_path_factory.mktemp("tiny")
    geno = d / "tiny.json"
    Genotype.make("imdn", ["conv3", "sep3", "conv3", "dilsep3"], num_feat=8, num_block=1).save(geno)
    torch.manual_seed(0)
    model = create_model(genotype=geno, scale=2).eval()
    ckpt = d / "tiny.pth"
    torch.save(model.state_dict(), ckpt)
    onnx_file = export_model(model, d / "tiny.onnx", "onnx", opset=17).path  # opset 17: the fast legacy exporter
    return geno, ckpt, onnx_file, model


def test_probe_scale_of_exported_file(tiny):
    assert probe_scale(load_onnx(tiny[2])) == 2


def test_infer_onnx_equals_checkpoint(tiny, tmp_path):
    geno, ckpt, onnx_file, model = tiny
    x = image_crops(read_image(SET5_X2 / "birdx2.png"), [(144, 144)])[0]
    assert (upscale_tensor(model, x, 2) - upscale_tensor(load_onnx(onnx_file), x, 2)).abs().max().item() <= 1e-4
    src = SET5_X2 / "birdx2.png"
    assert main(["infer", "--model", str(ckpt), "--genotype", str(geno), "--input", str(src),
                 "--output", str(tmp_path / "ckpt"), "--no-progress"]) == 0
    assert main(["infer", "--model", str(onnx_file), "--input", str(src), "--output", str(tmp_path / "onnx"),
                 "--no-progress"]) == 0
    a = read_image(tmp_path / "ckpt" / "birdx2_x2.png").astype(int)
    b = read_image(tmp_path / "onnx" / "birdx2_x2.png").astype(int)
    assert a.shape == (288, 288, 3) and np.abs(a - b).max() <= 1  # 1e-4 in [0, 1] can flip a rounding, no more


def _infer(tiny, src, out, *extra) -> int:
    geno, ckpt = tiny[0], tiny[1]
    return main(["infer", "--model", str(ckpt), "--genotype", str(geno), "--input", str(src), "--output", str(out),
                 "--no-progress", *extra])


def test_infer_folder_skips_non_images_and_tiles(tiny, tmp_path, caplog):
    src = tmp_path / "in"
    src.mkdir()
    write_image(src / "a.png", read_image(SET5_X2 / "butterflyx2.png"))
    (src / "notes.txt").write_text("not an image")
    with caplog.at_level(logging.WARNING, logger="srnas"):
        assert _infer(tiny, src, tmp_path / "out", "--tile", "48", "--tile-overlap", "8") == 0
    assert "notes.txt" in caplog.text
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_x2.png"]
    assert read_image(tmp_path / "out" / "a_x2.png").shape == (256, 256, 3)


def test_infer_rejects_a_non_image_input_file(tiny, tmp_path, capsys):
    bad = tmp_path / "model.txt"
    bad.write_text("hello")
    assert _infer(tiny, bad, tmp_path / "out") == 2
    assert "model.txt" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_infer_rejects_an_unreadable_image_in_a_folder(tiny, tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    write_image(src / "a.png", read_image(SET5_X2 / "butterflyx2.png"))
    (src / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    assert _infer(tiny, src, tmp_path / "out") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "b.png" in err
    assert not (tmp_path / "out" / "a_x2.png").exists()  # checked before anything is written


def test_infer_rejects_an_unwritable_output(tiny, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the output folder should go")
    assert _infer(tiny, SET5_X2 / "butterflyx2.png", blocker / "out") == 2
    assert "not writable" in capsys.readouterr().err


def test_infer_refuses_to_overwrite_without_force(tiny, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "butterflyx2_x2.png").write_bytes(b"keep")
    assert _infer(tiny, SET5_X2 / "butterflyx2.png", out) == 2
    assert "--force" in capsys.readouterr().err and (out / "butterflyx2_x2.png").read_bytes() == b"keep"
    assert _infer(tiny, SET5_X2 / "butterflyx2.png", out, "--force") == 0
    assert read_image(out / "butterflyx2_x2.png").shape == (256, 256, 3)


def test_infer_srnas_model_file_needs_no_arch(tiny, tmp_path):
    from srnas.train.model_file import save_model_file

    model = tiny[3]
    path = save_model_file(tmp_path / "net_best.pth", model, step=1)
    src = SET5_X2 / "butterflyx2.png"
    assert main(["infer", "--model", str(path), "--input", str(src), "--output", str(tmp_path / "o"),
                 "--no-progress"]) == 0
    expected = upscale_array(model, read_image(src), 2)
    assert np.array_equal(read_image(tmp_path / "o" / "butterflyx2_x2.png"), expected)
