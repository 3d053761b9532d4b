"""Export: BN folding, ONNX/TorchScript files equal to eager PyTorch (Set5 PSNR, dynamic sizes), parity check,
atomic writes, refusal to overwrite."""

import numpy as np
import onnx
import pytest
import torch
from torch import nn
from torch.utils.data import Subset

from srnas.archs import create_model
from srnas.cli import main
from srnas.data import BenchmarkDataset
from srnas.errors import SrnasError
from srnas.eval.bench import default_data_root, evaluate
from srnas.export import (DEFAULT_OPSET, check_parity, compact, export_model, load_onnx, load_torchscript,
                          max_abs_diff)
from srnas.export.parity import TRACE_SIZE, check_inputs

BN_OPS = ["conv3_bn", "sep3_bn", "dilsep5_bn", "conv5"]  # IMDN-space slots: (conv, bn), (dw, pw, bn), ..., no BN


@pytest.fixture(scope="module")
def imdn_x2(shared_dir):
    return create_model("imdn", scale=2, weights=shared_dir / "weights" / "imdn" / "IMDN_x2.pth").eval()


@pytest.fixture(scope="module")
def exported(imdn_x2, tmp_path_factory):
    """Official IMDN x2 exported once to each format: {format: (ExportResult, loaded model)}."""
    out = tmp_path_factory.mktemp("export")
    onnx_res = export_model(imdn_x2, out / "imdn_x2.onnx", "onnx")
    ts_res = export_model(imdn_x2, out / "imdn_x2.pt", "torchscript")
    return {"onnx": (onnx_res, load_onnx(onnx_res.path)), "torchscript": (ts_res, load_torchscript(ts_res.path))}


def _bn_imdn() -> nn.Module:
    """A small IMDN-space net with BN ops whose statistics and affine params are random (eval mode)."""
    torch.manual_seed(0)
    model = create_model("imdn", scale=2, num_feat=16, num_block=2, ops=BN_OPS).eval()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.2, 3.0)
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.2, 0.2)
    return model


def test_fold_batchnorm_gives_identical_outputs():
    model = _bn_imdn()
    net, folded = compact(model)
    x = check_inputs(sizes=[(40, 56)])[0]
    with torch.no_grad():
        diff = (model(x) - net(x)).abs().max().item()
    assert folded == 6  # 3 BN slots x 2 blocks
    assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())  # the original is left alone
    assert diff <= 1e-5


def test_fold_leaves_sac_genotype_unchanged(repo_dir):
    """A derived SAC network is the plain full-width network: nothing to fold, same parameters and outputs."""
    model = create_model(genotype=repo_dir / "options" / "genotypes" / "sac_imdn_x2.json", scale=2).eval()
    net, folded = compact(model)
    assert folded == 0
    sd, sd_net = model.state_dict(), net.state_dict()
    assert sd.keys() == sd_net.keys() and all(torch.equal(sd[k], sd_net[k]) for k in sd)


@pytest.mark.filterwarnings("ignore:`torch.jit.trace")  # the control trace below is deprecated
def test_exported_bn_net_has_no_batchnorm(tmp_path):
    """TorchScript keeps whatever BN the module has (the unfolded trace has aten::batch_norm), so its graph shows the
    folding; ONNX exporters would fold eval-mode BN themselves too, so the ONNX check alone could not fail."""
    model = _bn_imdn()
    x = check_inputs(sizes=[TRACE_SIZE])[0]
    with torch.no_grad():
        assert "aten::batch_norm" in str(torch.jit.trace(model, x).inlined_graph)  # control
    ts = export_model(model, tmp_path / "bn.pt", "torchscript")
    assert "aten::batch_norm" not in str(load_torchscript(ts.path).inlined_graph)
    res = export_model(model, tmp_path / "bn.onnx", "onnx")
    assert ts.folded_bn == res.folded_bn == 6 and max(ts.max_abs_diff, res.max_abs_diff) <= 1e-4
    assert "BatchNormalization" not in {n.op_type for n in onnx.load(str(res.path)).graph.node}


def test_onnx_file_is_self_contained(exported):
    res, _ = exported["onnx"]
    proto = onnx.load(str(res.path), load_external_data=False)
    assert sorted(p.name for p in res.path.parent.iterdir()) == ["imdn_x2.onnx", "imdn_x2.pt"]  # no .data, no temp
    assert all(t.data_location == onnx.TensorProto.DEFAULT for t in proto.graph.initializer)
    assert next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) == DEFAULT_OPSET == res.opset
    assert [i.name for i in proto.graph.input] == ["lq"] and [o.name for o in proto.graph.output] == ["sr"]
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", 3, "height", "width"]


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_exported_imdn_matches_pytorch_on_two_sizes(exported, imdn_x2, fmt):
    """Two input sizes, neither the traced one, and a batch of 2: same shapes and values as eager PyTorch."""
    res, loaded = exported[fmt]
    x1 = check_inputs(sizes=[(40, 56)])[0]
    x2 = torch.cat(check_inputs(sizes=[(33, 47), (33, 47)]))
    assert (40, 56) != TRACE_SIZE != (33, 47)
    assert loaded(x1).shape == (1, 3, 80, 112) and loaded(x2).shape == (2, 3, 66, 94)
    assert max_abs_diff(imdn_x2, loaded, [x1, x2]) <= 1e-4
    assert res.max_abs_diff <= 1e-4 and res.scale == 2


def _per_image_psnr(model) -> list[float]:
    """Set5 x2 PSNR of bird and butterfly, the two smallest images."""
    ds = BenchmarkDataset(default_data_root(), "Set5", 2)
    return [evaluate(model, Subset(ds, [i]), 2, ssim=False)["psnr"] for i in (1, 2)]


@pytest.fixture(scope="module")
def pytorch_psnr(imdn_x2):
    return _per_image_psnr(imdn_x2)


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_exported_imdn_set5_psnr_equals_pytorch(exported, pytorch_psnr, fmt):
    """Per-image PSNR within 0.01 dB of PyTorch."""
    ref = pytorch_psnr
    got = _per_image_psnr(exported[fmt][1])
    assert ref[0] > 35  # a real SR result, not two equally broken models
    assert np.allclose(got, ref, atol=0.01, rtol=0)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_exported_imdn_full_set5_psnr_equals_pytorch(exported, imdn_x2, fmt):
    ds = BenchmarkDataset(default_data_root(), "Set5", 2)
    ref = evaluate(imdn_x2, ds, 2, ssim=False)["psnr"]
    assert abs(evaluate(exported[fmt][1], ds, 2, ssim=False)["psnr"] - ref) <= 0.01


def test_parity_reports_the_difference_of_two_models():
    torch.manual_seed(0)
    a = create_model("imdn", scale=2, num_feat=8, num_block=1).eval()
    b = create_model("imdn", scale=2, num_feat=8, num_block=1).eval()  # other random weights
    inputs = check_inputs(sizes=[(24, 24)])
    with torch.no_grad():
        expected = (a(inputs[0]) - b(inputs[0])).abs().max().item()
    assert max_abs_diff(a, a, inputs) == 0.0
    assert max_abs_diff(a, b, inputs) == pytest.approx(expected) and expected > 1e-3
    with pytest.raises(SrnasError, match=r"max abs difference .* exceeds 0\.0001"):
        check_parity(a, b, inputs)


class _SizeBranch(nn.Module):
    """Not traceable: the branch depends on the input width, and a trace records only the branch taken."""

    def __init__(self):
        super().__init__()
        self.up = nn.Sequential(nn.Conv2d(3, 12, 3, padding=1), nn.PixelShuffle(2))

    def forward(self, x):
        y = self.up(x)
        return y * 0.5 if x.shape[-1] > TRACE_SIZE[1] else y


@pytest.mark.filterwarnings("ignore:Converting a tensor to a Python boolean")  # the TracerWarning this test provokes
def test_failed_parity_leaves_no_file(tmp_path):
    out = tmp_path / "bad.pt"
    with pytest.raises(SrnasError, match="max abs difference"):
        export_model(_SizeBranch().eval(), out, "torchscript")
    assert list(tmp_path.iterdir()) == []  # neither the output nor the temporary file


def test_export_cli_refuses_to_overwrite(shared_dir, tmp_path, capsys):
    out = tmp_path / "m.onnx"
    out.write_bytes(b"keep me")
    argv = ["export", "--arch", "imdn", "--weights", str(shared_dir / "weights" / "imdn" / "IMDN_x2.pth"),
            "--out", str(out)]
    assert main(argv) == 2
    assert "--force" in capsys.readouterr().err
    assert out.read_bytes() == b"keep me"


def test_export_cli_writes_torchscript(shared_dir, tmp_path, capsys):
    out = tmp_path / "m.ts"
    out.write_bytes(b"old")
    argv = ["export", "--arch", "imdn", "--weights", str(shared_dir / "weights" / "imdn" / "IMDN_x2.pth"),
            "--out", str(out), "--force"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "max abs diff" in printed and "MB" in printed
    assert load_torchscript(out)(torch.rand(1, 3, 20, 24)).shape == (1, 3, 40, 48)
