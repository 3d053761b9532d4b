"""The one model loader: files told apart by content, wrong files refused with one line, and `srnas bench` on exported
files (ONNX, TorchScript) giving the PyTorch PSNR of the official IMDN x2 and DLSR x2."""
import json
import shutil
import zipfile

import pytest
import torch

from srnas.archs import create_model
from srnas.cli import main
from srnas.errors import SrnasError
from srnas.eval.bench import bench, default_data_root
from srnas.export import export_model
from srnas.loader import load_model, sniff_model_file
from srnas.train.model_file import save_model_file

SET5 = default_data_root() / "Set5"


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory):
    """A tiny IMDN as srnas model file, bare state_dict, TorchScript and ONNX, each under a misleading name."""
    d = tmp_path_factory.mktemp("tiny")
    torch.manual_seed(0)
    model = create_model("imdn", scale=3, num_feat=8, num_block=1).eval()
    files = {"model_file": save_model_file(d / "model_file.onnx", model, step=0)}  # a checkpoint named .onnx
    torch.save(model.state_dict(), d / "state_dict.pt")
    files["state_dict"] = d / "state_dict.pt"
    files["torchscript"] = export_model(model, d / "ts.pt", "torchscript").path
    files["onnx"] = export_model(model, d / "o.onnx", "onnx", opset=17).path  # opset 17: the fast legacy exporter
    files["onnx"] = files["onnx"].rename(d / "onnx_named.pth")  # an ONNX model named .pth
    files["torchscript"] = files["torchscript"].rename(d / "ts_named.onnx")
    return model, files


@pytest.mark.parametrize("name, kind", [("model_file", "checkpoint"), ("state_dict", "checkpoint"),
                                        ("torchscript", "torchscript"), ("onnx", "onnx")])
def test_kind_comes_from_content_not_extension(tiny_files, name, kind):
    assert sniff_model_file(tiny_files[1][name]) == kind


def test_every_kind_runs_the_same_network(tiny_files):
    model, files = tiny_files
    x = torch.rand(1, 3, 20, 24)
    with torch.no_grad():
        ref = model(x)
    runtimes = {}
    for name, path in files.items():
        arch = {"arch": "imdn", "scale": 3} if name == "state_dict" else {}
        if name == "state_dict":
            with pytest.raises(SrnasError, match="no srnas_config"):
                load_model(path)  # a foreign checkpoint needs its architecture
            loaded = create_model("imdn", scale=3, num_feat=8, num_block=1, weights=path)
            got = loaded(x)
            runtimes[name] = "PyTorch"
        else:
            loaded = load_model(path, **arch)
            assert loaded.scale == 3
            got = loaded.model(x)
            runtimes[name] = loaded.runtime
        assert (got - ref).abs().max().item() <= 1e-4, name
    assert runtimes["onnx"].startswith("ONNX Runtime") and runtimes["torchscript"] == "TorchScript"
    assert runtimes["model_file"] == "PyTorch"


def _not_a_model(d):
    png = SET5 / "HR" / "bird.png"
    onnx_bytes = (d / "onnx_named.pth").read_bytes()
    with zipfile.ZipFile(d / "other.zip", "w") as z:
        z.writestr("hello.txt", "hi")
    cases = {"empty.onnx": (b"", "empty file"), "image.pth": (png.read_bytes(), "PNG image"),
             "genotype.pt": (json.dumps({"ops": ["conv3"]}).encode(), "text file"),
             "cut.onnx": (onnx_bytes[:len(onnx_bytes) // 3], "truncated"),
             "noise.pth": (bytes(range(7, 256)) * 4, "unrecognised"),
             "other.zip": ((d / "other.zip").read_bytes(), "not a readable torch checkpoint")}
    return cases


def test_wrong_files_get_one_line_naming_what_they_are(tiny_files, tmp_path, capsys):
    d = tiny_files[1]["onnx"].parent
    for name, (data, expect) in _not_a_model(d).items():
        p = tmp_path / name
        p.write_bytes(data)
        for argv in (["bench", "--weights", str(p), "--datasets", "Set5", "--no-progress"],
                     ["infer", "--model", str(p), "--input", str(SET5 / "HR" / "bird.png"), "--output",
                      str(tmp_path / "out"), "--no-progress"],
                     ["profile", "--weights", str(p)]):
            assert main(argv) == 2, (name, argv[0])
            err = capsys.readouterr().err.strip().splitlines()
            assert len(err) == 1 and name in err[0] and expect in err[0], (argv[0], err)
    assert not (tmp_path / "out").exists()


def test_exported_files_refuse_arch_and_export(tiny_files, capsys):
    onnx_file, ts_file = tiny_files[1]["onnx"], tiny_files[1]["torchscript"]
    assert main(["bench", "--arch", "imdn", "--weights", str(onnx_file), "--no-progress"]) == 2
    assert "carries its own architecture" in capsys.readouterr().err
    assert main(["export", "--weights", str(ts_file), "--out", str(ts_file.parent / "x.onnx")]) == 2
    assert "needs the PyTorch network" in capsys.readouterr().err
    assert main(["bench", "--weights", str(onnx_file), "--scale", "2", "--no-progress"]) == 2
    assert "x3, not x2" in capsys.readouterr().err


def test_profile_of_an_exported_file_counts_its_architecture(tiny_files, capsys):
    assert main(["profile", "--weights", str(tiny_files[1]["onnx"])]) == 0
    via_onnx = capsys.readouterr().out
    assert main(["profile", "--weights", str(tiny_files[1]["model_file"])]) == 0
    assert capsys.readouterr().out == via_onnx and "params" in via_onnx


def _two_image_root(tmp_path):
    """Set5 bird and butterfly (the two smallest) as a benchmark set ``S2``."""
    s = tmp_path / "S2"
    for sub, fmt in (("HR", "{}.png"), ("LR_bicubic/X2", "{}x2.png")):
        (s / sub).mkdir(parents=True)
        for name in ("bird", "butterfly"):
            shutil.copy(SET5 / sub / fmt.format(name), s / sub)
    return tmp_path


@pytest.fixture(scope="module")
def official(shared_dir, repo_dir):
    w = shared_dir / "weights"
    return {"imdn": create_model("imdn", scale=2, weights=w / "imdn" / "IMDN_x2.pth").eval(),
            "dlsr": create_model(genotype=repo_dir / "options" / "genotypes" / "dlsr_x2_released.json", scale=2,
                                 weights=w / "dlsr" / "DLSR_x2.pt").eval()}


def _bench_parity(model, tmp_path, capsys, sets, data_root):
    """`srnas bench` of the ONNX and TorchScript exports of ``model``: the printed runtime and the PSNR per set."""
    ref = bench(model, 2, sets, data_root, ssim=False)
    for fmt, suffix, runtime in (("onnx", ".onnx", "ONNX Runtime"), ("torchscript", ".pt", "TorchScript")):
        path = export_model(model, tmp_path / f"m{suffix}", fmt, opset=17).path
        out = tmp_path / f"{fmt}.json"
        assert main(["bench", "--weights", str(path), "--datasets", *sets, "--data-root", str(data_root),
                     "--no-ssim", "--no-progress", "--json", str(out)]) == 0
        assert f"run by {runtime}" in capsys.readouterr().out
        got = json.loads(out.read_text())
        for s in sets:
            assert abs(got[s]["psnr"] - ref[s]["psnr"]) <= 0.01, (fmt, s, got[s]["psnr"], ref[s]["psnr"])
    assert all(r["psnr"] > 30 for r in ref.values())  # real SR results, not equally broken models


@pytest.mark.parametrize("net", ["imdn", "dlsr"])
def test_bench_of_exported_official_models_equals_pytorch(official, net, tmp_path, capsys):
    """Set5 bird + butterfly through `srnas bench --weights X.onnx / X.pt` vs the PyTorch model (full Set5: slow)."""
    _bench_parity(official[net], tmp_path, capsys, ["S2"], _two_image_root(tmp_path))


@pytest.mark.slow
@pytest.mark.parametrize("net", ["imdn", "dlsr"])
def test_bench_of_exported_official_models_equals_pytorch_full_set5(official, net, tmp_path, capsys):
    _bench_parity(official[net], tmp_path, capsys, ["Set5"], default_data_root())


def test_bench_report_of_an_exported_file_names_its_runtime(tiny_files, tmp_path):
    model, files = tiny_files
    assert main(["bench", "--weights", str(files["onnx"]), "--datasets", "Set5", "--no-ssim", "--no-progress",
                 "--report", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["runtime"].startswith("ONNX Runtime") and report["scale"] == 3
    assert report["params"] == sum(p.numel() for p in model.parameters())
    assert "run by: ONNX Runtime" in (tmp_path / "report.md").read_text()
