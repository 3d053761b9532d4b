"""Checkpoint loading: the official IMDN/DLSR files load strictly and reproduce the reference Set5 PSNR
(../shared/weights/README.md); every accepted layout loads; every bad input is one SrnasError naming the file."""
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from srnas.archs import create_model
from srnas.archs.weights import OFFICIAL_WEIGHTS, load_weights, sha256_file
from srnas.errors import SrnasError

SET5 = ("baby", "bird", "butterfly", "head", "woman")


def weight_path(shared: Path, tag: str) -> Path:
    cfg = OFFICIAL_WEIGHTS[tag]
    return shared / "weights" / cfg.arch / cfg.file


@pytest.mark.parametrize("tag", ["imdn.x2", "imdn.x3", "imdn.x4", "dlsr.x2"])
def test_official_weights_load_strictly(shared_dir, tag):
    cfg = OFFICIAL_WEIGHTS[tag]
    path = weight_path(shared_dir, tag)
    assert sha256_file(path) == cfg.sha256
    model = create_model(cfg.arch, scale=cfg.scale, weights=path)
    assert sum(p.numel() for p in model.parameters()) == cfg.num_params
    sd = torch.load(path, map_location="cpu", weights_only=True)
    sd = sd.get("state_dict", sd)
    key = next(k for k in sd if k.endswith("upsampler.0.weight"))
    torch.testing.assert_close(model.upsampler[0].weight, sd[key], rtol=0, atol=0)


def _rgb(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)  # 8-bit, 3 channels
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _y(img: np.ndarray) -> np.ndarray:
    img = img.astype(np.float64)  # BT.601 Y of 8-bit RGB, not rounded (../shared/weights/README.md)
    return 16.0 + (65.481 * img[..., 0] + 128.553 * img[..., 1] + 24.966 * img[..., 2]) / 255.0


def set5_psnr(model: torch.nn.Module, shared: Path, scale: int) -> float:
    """Mean Y-PSNR over Set5, border = scale, SR rounded to uint8 (the reference table's convention)."""
    root = shared / "data" / "benchmark" / "Set5"
    psnrs = []
    for name in SET5:
        lr = _rgb(root / "LR_bicubic" / f"X{scale}" / f"{name}x{scale}.png")
        hr = _rgb(root / "HR" / f"{name}.png")[:lr.shape[0] * scale, :lr.shape[1] * scale]
        with torch.no_grad():
            sr = model(torch.from_numpy(lr).permute(2, 0, 1)[None].float() / 255.0)
        sr = (sr.clamp(0, 1) * 255.0).round()[0].permute(1, 2, 0).numpy()
        diff = (_y(sr) - _y(hr))[scale:-scale, scale:-scale]
        psnrs.append(10.0 * np.log10(255.0 ** 2 / np.mean(diff ** 2)))
    return float(np.mean(psnrs))


@pytest.mark.parametrize("tag, reference", [("imdn.x2", 37.9960), ("imdn.x3", 34.3597), ("imdn.x4", 32.2096),
                                            ("dlsr.x2", 38.0387)])
def test_official_weights_reproduce_reference_set5_psnr(shared_dir, tag, reference):
    cfg = OFFICIAL_WEIGHTS[tag]
    model = create_model(cfg.arch, scale=cfg.scale, weights=weight_path(shared_dir, tag)).eval()
    assert set5_psnr(model, shared_dir, cfg.scale) == pytest.approx(reference, abs=0.01)


def test_dlsr_connection_order_matters_for_released_weights(shared_dir):
    path = weight_path(shared_dir, "dlsr.x2")
    released = create_model("dlsr", weights=path).eval()
    swapped = create_model("dlsr", weights=path, connections=[[2, 1], [2, 3], [2, 4], [4, 5]]).eval()
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert (released(x) - swapped(x)).abs().max() > 1e-2


@pytest.mark.parametrize("layout", ["bare", "module", "state_dict", "params", "params_ema", "model"])
def test_accepted_checkpoint_layouts(tmp_path, layout):
    torch.manual_seed(0)
    src = create_model("imdn", num_feat=16, num_block=2)
    sd = src.state_dict()
    ckpt = {"bare": sd, "module": {f"module.{k}": v for k, v in sd.items()},
            "state_dict": {"state_dict": sd, "epoch": 3},
            "params": {"params": sd}, "model": {"model": sd, "step": 10, "genotype": "{}"},
            "params_ema": {"params": {k: torch.zeros_like(v) for k, v in sd.items()}, "params_ema": sd}}[layout]
    torch.save(ckpt, tmp_path / "ckpt.pth")
    dst = load_weights(create_model("imdn", num_feat=16, num_block=2), tmp_path / "ckpt.pth")
    for k, v in dst.state_dict().items():
        torch.testing.assert_close(v, sd[k], rtol=0, atol=0)


def test_checkpoint_for_another_scale(shared_dir):
    path = weight_path(shared_dir, "imdn.x3")
    with pytest.raises(SrnasError, match=r"IMDN_x3.pth: checkpoint is for scale 3 \(upsampler.0.weight has 27 "
                                         r"outputs\), model is scale 2"):
        create_model("imdn", scale=2, weights=path)


def test_checkpoint_for_another_arch(shared_dir):
    path = weight_path(shared_dir, "imdn.x2")
    with pytest.raises(SrnasError, match=r"IMDN_x2.pth: does not match arch dlsr: \d+ missing keys \(e.g. B1\.c1_d"):
        create_model("dlsr", scale=2, weights=path)


def test_shape_mismatch_names_the_key(tmp_path):
    torch.save(create_model("imdn", num_feat=16, num_block=2).state_dict(), tmp_path / "w16.pth")
    with pytest.raises(SrnasError, match=r"w16.pth: .*shape mismatches \(e.g. fea_conv.weight: checkpoint "
                                         r"\(16, 3, 3, 3\), model \(32, 3, 3, 3\)\)"):
        create_model("imdn", num_feat=32, num_block=2, weights=tmp_path / "w16.pth")


class Payload:  # a class a pickle must import: needs code execution to load
    def __init__(self):
        self.x = 1


def test_pickle_needing_code_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": create_model("imdn", num_feat=16, num_block=1).state_dict(), "extra": Payload()}, path)
    with pytest.raises(SrnasError, match="evil.pth: refusing to load a checkpoint that needs code execution .*Payload"):
        create_model("imdn", num_feat=16, num_block=1, weights=path)


def test_missing_checkpoint_file(tmp_path):
    with pytest.raises(SrnasError, match="nothing.pth: checkpoint file not found"):
        create_model("imdn", weights=tmp_path / "nothing.pth")


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_text("these are notes, not weights\n")
    with pytest.raises(SrnasError, match="notes.pth: not a readable torch checkpoint"):
        load_weights(create_model("imdn", num_feat=16, num_block=1), path)


def test_checkpoint_without_state_dict(tmp_path):
    torch.save({"epoch": 1, "optimizer": {}}, tmp_path / "opt_only.pth")
    with pytest.raises(SrnasError, match="opt_only.pth: no state_dict found"):
        load_weights(create_model("imdn", num_feat=16, num_block=1), tmp_path / "opt_only.pth")
