"""x8 self-ensemble: exact on an equivariant model, the mean of the 8 transforms otherwise, and better than the plain
forward on real images with an official network."""
import json

import pytest
import torch
from torch import nn
from torch.utils.data import Subset

from srnas.archs import create_model
from srnas.archs.genotype import Genotype
from srnas.cli import main
from srnas.data import BenchmarkDataset
from srnas.eval.bench import default_data_root, evaluate, self_ensemble


def test_equivariant_model_is_unchanged():
    up = nn.Upsample(scale_factor=2, mode="nearest")  # commutes with flips and transposes
    x = torch.rand(1, 3, 7, 5)
    assert torch.allclose(self_ensemble(up)(x), up(x), atol=1e-7)


def test_mean_of_the_eight_transforms_on_non_square_input():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 3, 3, padding=1)
    x = torch.rand(2, 3, 6, 9)
    with torch.no_grad():
        outs = []
        for xt in (x, x.transpose(-2, -1)):
            tr = xt is not x
            for dims in ((), (-1,), (-2,), (-2, -1)):
                y = conv(xt.flip(dims) if dims else xt)
                y = y.flip(dims) if dims else y
                outs.append(y.transpose(-2, -1) if tr else y)
        want = torch.stack(outs).mean(0)
        got = self_ensemble(conv)(x)
    assert got.shape == x.shape and torch.allclose(got, want, atol=1e-6)
    assert not torch.allclose(got, conv(x), atol=1e-3)  # an asymmetric kernel is not equivariant


@pytest.fixture(scope="module")
def imdn_x2(shared_dir):
    return create_model("imdn", scale=2, weights=shared_dir / "weights" / "imdn" / "IMDN_x2.pth").eval()


def test_official_imdn_gains_on_set5_images(imdn_x2):
    ds = Subset(BenchmarkDataset(default_data_root(), "Set5", 2), [1, 2])  # bird, butterfly
    plain = evaluate(imdn_x2, ds, 2, ssim=False)["psnr"]
    x8 = evaluate(self_ensemble(imdn_x2), ds, 2, ssim=False)["psnr"]
    assert plain > 35 and 0.0 < x8 - plain < 0.5  # EDSR reports +0.04..0.2 dB for x2


def test_cli_reports_both_ways(tmp_path):
    torch.manual_seed(0)
    geno = Genotype.make("imdn", ["conv3"] * 4, num_feat=8, num_block=1)
    geno.save(tmp_path / "g.json")
    torch.save(create_model(genotype=geno, scale=2).state_dict(), tmp_path / "w.pth")
    out = tmp_path / "r.json"
    assert main(["bench", "--genotype", str(tmp_path / "g.json"), "--weights", str(tmp_path / "w.pth"),
                 "--datasets", "Set5", "--no-progress", "--self-ensemble", "--json", str(out),
                 "--report", str(tmp_path)]) == 0
    res = json.loads(out.read_text())
    assert set(res) == {"Set5", "Set5_x8"} and res["Set5_x8"]["psnr"] != res["Set5"]["psnr"]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["results"]["Set5"] == res["Set5"] and report["results_x8"]["Set5"] == res["Set5_x8"]
    assert "Set5 (x8 self-ensemble)" in (tmp_path / "report.md").read_text()
