"""Exact tiled inference: IMDN (CCA), DLSR (ESA) and genotypes of both spaces give the whole-image output tile by
tile; the approximate mode does not; exported files are refused for the exact mode. Tiny networks, real image crops
(the official networks on a photo no test uses: benchmarks/tiling.py)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from srnas.archs import create_model
from srnas.archs.blocks import CCALayer
from srnas.cli import main
from srnas.data import read_image
from srnas.errors import SrnasError
from srnas.eval.bench import default_data_root
from srnas.exact_tiling import bilinear_window, trace_attention
from srnas.export import export_model, load_onnx
from srnas.export.parity import image_crops
from srnas.infer import tile_mode, upscale_tensor

SET5_X2 = default_data_root() / "Set5" / "LR_bicubic" / "X2"


def _sharpen_cca(m: torch.nn.Module) -> torch.nn.Module:
    """At random init CCA's sigmoid barely depends on the statistics (tiles would change the output by ~1e-5):
    larger weights make the statistics matter, as they do in trained IMDN."""
    with torch.no_grad():
        for cca in (c for c in m.modules() if isinstance(c, CCALayer)):
            cca.conv_du[2].weight.mul_(30)
    return m


def _net(kind: str) -> torch.nn.Module:
    torch.manual_seed(0)
    if kind == "imdn":
        return _sharpen_cca(create_model("imdn", scale=2, num_feat=16, num_block=2)).eval()
    if kind == "imdn_bn":
        m = create_model("imdn", scale=3, num_feat=8, num_block=2, ops=["conv3_bn", "sep5_bn", "dilsep3", "conv5"])
        for bn in (b for b in m.modules() if isinstance(b, torch.nn.BatchNorm2d)):
            bn.running_mean.uniform_(-0.3, 0.3)
            bn.running_var.uniform_(0.5, 2.0)
        return _sharpen_cca(m).eval()
    ops = ["conv_3x3", "sep_conv_3x3", "dil_conv_3x3"]  # small kernels: a small receptive radius, fast windows
    return create_model("dlsr", scale=2, num_feat=8, num_block=3, ops=ops, connections=[[1, 2]]).eval()


def _image(h: int, w: int) -> torch.Tensor:
    return image_crops(read_image(SET5_X2 / "butterflyx2.png"), [(h, w)])[0]


@pytest.mark.parametrize("kind, hw, tile", [("imdn", (70, 83), 24), ("imdn_bn", (61, 50), 16),
                                            ("dlsr", (72, 95), 20), ("dlsr", (45, 31), 64)])
def test_exact_tiles_equal_whole_image_and_approximate_ones_do_not(kind, hw, tile):
    net, x = _net(kind), _image(*hw)
    scale = net.upscale
    with torch.no_grad():
        whole = net(x)
    exact = upscale_tensor(net, x, scale, tile=tile, mode="exact")
    approx = upscale_tensor(net, x, scale, tile=tile, overlap=8, mode="approx")
    err = (exact - whole).abs().max().item()
    assert err <= 1e-5
    if tile < min(hw):  # several tiles: the per-tile statistics differ from the whole image's
        assert (approx - whole).abs().max().item() > max(2e-6, 10 * err)


def test_trace_finds_attention_layers_in_order_with_growing_radius():
    layers, radius = trace_attention(_net("dlsr"))
    assert [type(a.module).__name__ for a in layers] == ["ESA"] * 3
    radii = [a.radius for a in layers]
    assert radii == sorted(radii) and radii[0] > 0 and radius > radii[-1]
    layers, _ = trace_attention(_net("imdn"))
    assert [type(a.module).__name__ for a in layers] == ["CCALayer"] * 2


@pytest.mark.parametrize("size, box", [((70, 83), (0, 70, 0, 83)), ((70, 83), (13, 41, 60, 83)),
                                       ((200, 31), (150, 200, 0, 7))])
def test_bilinear_window_is_a_crop_of_the_full_resize(size, box):
    torch.manual_seed(0)
    low = torch.randn(2, 3, (size[0] - 9) // 6, (size[1] - 9) // 6)
    full = F.interpolate(low, size=size, mode="bilinear", align_corners=False)
    y0, y1, x0, x1 = box
    assert (bilinear_window(low, size, box) - full[..., y0:y1, x0:x1]).abs().max().item() <= 1e-5  # fp32 order


def test_exact_mode_refuses_exported_files_and_auto_picks_approx(tmp_path, capsys):
    net = _net("imdn")
    onnx_file = export_model(net, tmp_path / "m.onnx", "onnx", opset=17).path
    model = load_onnx(onnx_file)
    assert tile_mode(model, "auto") == "approx" and tile_mode(net, "auto") == "exact"
    with pytest.raises(SrnasError, match="needs the PyTorch network"):
        tile_mode(model, "exact")
    src = SET5_X2 / "birdx2.png"
    assert main(["infer", "--model", str(onnx_file), "--input", str(src), "--output", str(tmp_path / "o"),
                 "--tile", "32", "--tile-mode", "exact", "--no-progress"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1 and not (tmp_path / "o").exists()


def test_infer_cli_exact_tiles_write_the_untiled_image(tmp_path):
    from srnas.train.model_file import save_model_file

    path = save_model_file(tmp_path / "net.pth", _net("dlsr"), step=0)
    src = SET5_X2 / "birdx2.png"
    for name, extra in (("whole", []), ("tiled", ["--tile", "40"])):
        assert main(["infer", "--model", str(path), "--input", str(src), "--output", str(tmp_path / name),
                     "--no-progress", *extra]) == 0
    a = read_image(tmp_path / "whole" / "birdx2_x2.png").astype(int)
    b = read_image(tmp_path / "tiled" / "birdx2_x2.png").astype(int)
    assert a.shape == (288, 288, 3) and np.abs(a - b).max() <= 1  # float rounding may flip one uint8 rounding


def test_exact_tiling_runs_only_windows_bounded_by_the_tile():
    """Memory is bounded by the tile: no run of the network sees more than tile + 2 x radius (+14 for ESA's pooled
    cells) pixels per side, however large the image."""
    net = _net("dlsr")
    layers, radius = trace_attention(net)
    seen = []
    hook = net.fea_conv.register_forward_pre_hook(lambda m, inp: seen.append(tuple(inp[0].shape[-2:])))
    try:
        upscale_tensor(net, image_crops(read_image(SET5_X2 / "babyx2.png"), [(150, 190)])[0], 2, tile=24,
                       mode="exact")
    finally:
        hook.remove()
    windows = seen[1:]  # the first run is the 32x32 probe that finds the attention layers
    bound = 24 + 2 * radius + 14
    assert max(max(s) for s in windows) <= bound < 150
    assert len(windows) == (len(layers) + 1) * 7 * 8  # every pass covers the 7 x 8 cores


def test_official_imdn_exact_tiles(shared_dir):
    """The trained CCA (whose statistics matter, unlike a random one's): tile 32 on a Set5 crop equals untiled within
    fp32 rounding, approximate tiles do not."""
    model = create_model("imdn", scale=2, weights=shared_dir / "weights" / "imdn" / "IMDN_x2.pth").eval()
    x = image_crops(read_image(SET5_X2 / "birdx2.png"), [(64, 80)])[0]
    with torch.no_grad():
        whole = model(x)
    exact = upscale_tensor(model, x, 2, tile=32, mode="exact")
    approx = upscale_tensor(model, x, 2, tile=32, overlap=16, mode="approx")
    assert (exact - whole).abs().max().item() <= 1e-5
    assert (approx - whole).abs().max().item() > 1e-3
