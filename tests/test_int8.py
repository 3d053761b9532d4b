"""int8 ONNX export: written only within the PSNR limit (or when accepted), measured against fp32, calibrated on
training images only; the file loads through the one loader with its architecture. Tiny network, 3 T91 images."""
import shutil

import onnx
import pytest
import torch

from srnas.archs import create_model
from srnas.cli import main
from srnas.eval.bench import default_data_root
from srnas.loader import load_model
from srnas.train.model_file import save_model_file

REPO_T91 = default_data_root().parent / "T91"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("int8")
    torch.manual_seed(0)
    path = save_model_file(d / "net.pth", create_model("imdn", scale=2, num_feat=8, num_block=1), step=0)
    calib = d / "calib"
    calib.mkdir()
    for name in ("t1.png", "t2.png", "t3.png"):
        shutil.copy(REPO_T91 / name, calib)
    return path, calib


def _export(tiny, out, *extra):
    path, calib = tiny
    return main(["export", "--weights", str(path), "--format", "onnx", "--quantize", "int8", "--calib", str(calib),
                 "--out", str(out), "--opset", "17", *extra])  # opset 17: the fast legacy exporter


def test_int8_export_is_refused_beyond_the_limit_and_written_when_accepted(tiny, tmp_path, capsys):
    out = tmp_path / "m.onnx"
    assert _export(tiny, out, "--max-psnr-drop", "-50") == 2  # no int8 model gains 50 dB: always refused
    captured = capsys.readouterr()
    assert "not written" in captured.err and len(captured.err.strip().splitlines()) == 1
    assert "PSNR" in captured.out and "latency" in captured.out and not out.exists()
    assert list(tmp_path.iterdir()) == []  # no temporary file left either
    assert _export(tiny, out, "--max-psnr-drop", "-50", "--accept-psnr-drop") == 0
    assert out.exists() and "wrote" in capsys.readouterr().out
    proto = onnx.load(str(out))
    ops = {n.op_type for n in proto.graph.node}
    assert {"QLinearConv", "QuantizeLinear", "DequantizeLinear"} <= ops
    per_channel = [n for n in proto.graph.initializer if n.data_type == onnx.TensorProto.INT8 and len(n.dims) == 4]
    assert per_channel  # int8 conv weights
    loaded = load_model(out)  # through the one loader; the quantiser's file keeps srnas' metadata
    assert loaded.kind == "onnx" and loaded.scale == 2 and loaded.config["arch"] == "imdn"
    with torch.no_grad():
        ref = load_model(tiny[0]).model(torch.rand(1, 3, 24, 24))
    assert loaded.model(torch.rand(1, 3, 24, 24)).shape == ref.shape


def _refused_int8_line(tiny, calib, tmp_path, capsys) -> str:
    """An int8 export calibrated on ``calib`` that must be refused: exit 2, one error line (returned), no file."""
    out = tmp_path / "m.onnx"
    assert main(["export", "--weights", str(tiny[0]), "--format", "onnx", "--quantize", "int8", "--calib",
                 str(calib), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and not out.exists()
    return err[0]


@pytest.mark.parametrize("calib", ["benchmark", "missing"])
def test_int8_refuses_benchmark_calibration_and_bad_folders(tiny, tmp_path, capsys, calib):
    folder = default_data_root() / "Set5" / "HR" if calib == "benchmark" else tmp_path / "nope"
    assert "--calib" in _refused_int8_line(tiny, folder, tmp_path, capsys)


def test_int8_calibration_images_go_through_the_guarded_reader(tiny, tmp_path, capsys):
    calib = tmp_path / "calib"
    shutil.copytree(tiny[1], calib)
    (calib / "t9.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    assert "t9.png" in _refused_int8_line(tiny, calib, tmp_path, capsys)


def test_int8_is_for_onnx_only(tiny, tmp_path, capsys):
    assert main(["export", "--weights", str(tiny[0]), "--format", "torchscript", "--quantize", "int8",
                 "--out", str(tmp_path / "m.pt")]) == 2
    assert "ONNX files only" in capsys.readouterr().err
