"""Fixed architectures, genotype files and the model factory: parameter counts (method notes §8.17), shapes for every
registered arch and every candidate op, connection semantics, create_model's contract."""
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from srnas.archs import DLSR, IMDN, create_model
from srnas.archs.depthwise import DepthwiseConv2d
from srnas.archs.genotype import Genotype
from srnas.archs.ops import IMDN_PRIMITIVES, OPS
from srnas.errors import SrnasError
from srnas.registry import ARCHS

GENOTYPES = Path(__file__).resolve().parents[1] / "options" / "genotypes"
MIN_HW = {"imdn": 12, "dlsr": 16}  # DLSR's ESA max-pools (k 7) at half resolution: needs >= 15 px


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("arch, scale, kwargs, expected", [
    ("dlsr", 2, {}, 322_620),  # released x2
    ("dlsr", 2, {"ops": ["conv_7x7"] * 3}, 2_243_004),  # Beta-DLSR
    ("dlsr", 2, {"ops": ["dil_conv_3x3", "dil_conv_3x3", "dil_conv_5x5"]}, 264_732),  # SA-DLSR multiset
    ("dlsr", 2, {"ops": ["sep_conv_3x3"] * 3}, 309_372),  # SAC-DLSR multiset
    ("imdn", 4, {}, 715_176),
    ("imdn", 2, {}, 694_404),
    ("imdn", 4, {"ops": ["conv5_bn", "conv5", "conv5_bn", "conv5_bn"]}, 1_773_672),  # Beta-IMDN
    ("imdn", 4, {"ops": ["sep3", "conv3", "sep3_bn", "sep5"]}, 349_224),  # Beta-IMDN w/ FLOPs
    ("imdn", 4, {"ops": ["dilsep3", "sep3", "sep3", "dilsep3"]}, 199_272),  # SAC-IMDN
])
def test_param_counts_match_method_notes(arch, scale, kwargs, expected):
    assert n_params(create_model(arch, scale=scale, **kwargs)) == expected


@pytest.mark.parametrize("file, scale, expected", [
    ("dlsr_x2_released.json", 2, 322_620), ("dlsr_para_loss.json", 2, 327_804), ("dlsr_tiny18.json", 2, 56_268),
    ("imdn.json", 3, 703_059), ("sac_imdn_x2.json", 4, 199_272)])
def test_genotype_files_build_known_param_counts(file, scale, expected):
    assert n_params(create_model(genotype=GENOTYPES / file, scale=scale)) == expected


@pytest.mark.parametrize("file", sorted(p.name for p in GENOTYPES.glob("*.json")))
def test_genotype_files_are_canonical_json(file):
    text = (GENOTYPES / file).read_text()
    assert Genotype.load(GENOTYPES / file).to_json() + "\n" == text


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("arch", ARCHS.keys())
def test_every_arch_output_shape(arch, scale):
    hw = MIN_HW[arch]
    model = create_model(arch, scale=scale, num_feat=8)
    y = model(torch.rand(2, 3, hw, hw + 1))
    assert y.shape == (2, 3, hw * scale, (hw + 1) * scale)


@pytest.mark.parametrize("op", list(OPS))
def test_every_op_builds_a_working_network(op):
    if op in IMDN_PRIMITIVES:
        g = Genotype.make("imdn", [op] * 4, num_feat=8, num_block=2)
    else:  # DLSR ops and the extra skip_connect / none; cell 3 fuses cells 1 and 2
        g = Genotype.make("dlsr", [op] * 3, num_feat=8, num_block=3, connections=[[1, 2]])
    model = create_model(genotype=g, scale=3)
    x = torch.rand(2, 3, 16, 16)
    y = model(x)
    y.mean().backward()
    assert y.shape == (2, 3, 48, 48)
    assert torch.isfinite(y).all()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_imdn_per_block_ops_differ_per_block():
    ops = [["conv3", "sep3", "sep5", "conv5"], ["dilsep3", "conv3", "conv3", "conv3"]]
    model = create_model("imdn", num_feat=8, num_block=2, ops=ops)
    assert type(model.IMDB1.c2[0]) is DepthwiseConv2d and model.IMDB1.c2[0].groups == 6
    assert model.IMDB2.c1[0].dilation == (2, 2)
    assert model.genotype().ops == tuple(tuple(r) for r in ops)


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> torch.nn.Module:
    b.load_state_dict(a.state_dict(), strict=True)
    return b


def test_dlsr_single_input_connections_equal_plain_chain():
    torch.manual_seed(0)
    chain = DLSR(num_feat=8, connections=None).eval()
    listed = _same_weights(chain, DLSR(num_feat=8, connections=[[2], [3], [4], [5]]).eval())
    x = torch.rand(1, 3, 16, 16)
    assert not any(k.startswith("c3.") for k in chain.state_dict())
    torch.testing.assert_close(chain(x), listed(x))


def test_dlsr_works_in_255_but_takes_and_returns_unit_range():
    torch.manual_seed(0)
    ours = DLSR(num_feat=8).eval()
    raw = _same_weights(ours, DLSR(num_feat=8, rgb_range=1.0).eval())  # the reference network on [0, 255]
    x = torch.rand(1, 3, 16, 16)
    torch.testing.assert_close(ours(x), raw(x * 255) / 255, rtol=1e-4, atol=1e-5)


def test_genotype_round_trips_through_json():
    g = Genotype.make("dlsr", [["conv_1x1", "sep_conv_7x7", "none"], ["conv_3x3"] * 3, ["dil_conv_5x5"] * 3],
                      num_feat=12, num_block=3, connections=[[2, 1]], scale=3, info={"method": "test"})
    back = Genotype.from_json(g.to_json())
    assert back == g and back.info == g.info


def test_model_genotype_rebuilds_the_same_network():
    g = Genotype.load(GENOTYPES / "dlsr_para_loss.json")
    assert create_model(genotype=g).genotype() == dataclasses.replace(g, primitives=None)


def test_create_model_srnas_config_rebuilds_model():
    model = create_model("imdn", scale=3, num_feat=8, ops=["sep3", "conv3", "conv3", "dilsep5_bn"], num_block=None)
    cfg = model.srnas_config
    assert cfg == {"arch": "imdn", "scale": 3, "genotype": None,
                   "kwargs": {"num_feat": 8, "ops": ["sep3", "conv3", "conv3", "dilsep5_bn"]}}
    again = create_model(cfg["arch"], cfg["scale"], genotype=cfg["genotype"], **cfg["kwargs"])
    assert again.state_dict().keys() == model.state_dict().keys() and n_params(again) == n_params(model)


def test_create_model_from_genotype_records_it():
    model = create_model("genotype", scale=4, genotype=GENOTYPES / "dlsr_tiny18.json")
    cfg = model.srnas_config
    assert cfg["arch"] == "dlsr" and cfg["scale"] == 4 and cfg["kwargs"] == {}
    assert n_params(create_model(scale=4, genotype=cfg["genotype"])) == n_params(model)


def test_create_model_unknown_arch_lists_registered():
    with pytest.raises(SrnasError, match="unknown arch 'edsr'.*dlsr, imdn"):
        create_model("edsr")


@pytest.mark.parametrize("kwargs, match", [
    ({"name": "imdn", "genotype": GENOTYPES / "dlsr_tiny18.json"}, "describes the 'dlsr' space"),
    ({"name": "dlsr", "genotype": GENOTYPES / "dlsr_tiny18.json", "num_feat": 8}, "num_feat come"),
    ({"name": "imdn", "num_fea": 8}, "unknown argument.*num_fea.*accepted: num_in_ch"),
    ({"name": "imdn", "upscale": 3}, "use scale"),
    ({}, "arch name or a genotype is required"),
    ({"name": "dlsr", "num_block": 4}, "connections must list the inputs of cells 3..4"),
    ({"name": "imdn", "ops": ["conv3", "conv3", "conv_3x3", "conv3"]}, "unknown op 'conv_3x3'"),
])
def test_create_model_bad_arguments(kwargs, match):
    with pytest.raises(SrnasError, match=match):
        create_model(**kwargs)


@pytest.mark.parametrize("text, match", [
    ('{"space": "dlsr", "ops": [', "not valid JSON"),
    ('{"space": "dlsr", "num_feat": 48, "num_block": 2, "ops": ["conv_1x1", "conv_9x9", "conv_1x1"]}',
     "unknown op 'conv_9x9'"),
    ('{"space": "imdn", "num_feat": 64, "num_block": 6, "ops": ["conv3", "conv3", "conv3"]}',
     "has 3 entries; the imdn space has 4 positions"),
])
def test_bad_genotype_files_name_the_file(tmp_path, text, match):
    path = tmp_path / "bad_genotype.json"
    path.write_text(text)
    with pytest.raises(SrnasError, match=match) as info:
        create_model(genotype=path)
    assert str(info.value).startswith(str(path))


def test_missing_genotype_file():
    with pytest.raises(SrnasError, match="no_such.json: cannot read genotype file"):
        create_model(genotype="no_such.json")


def test_import_srnas_is_cheap_and_create_model_is_lazy():
    code = ("import sys, srnas; assert 'torch' not in sys.modules, 'import srnas pulled in torch'; "
            "assert srnas.create_model.__module__ == 'srnas.archs.factory'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_imdn_from_genotype_rejects_other_space():
    with pytest.raises(SrnasError, match="genotype is of the 'dlsr' space"):
        IMDN.from_genotype(Genotype.load(GENOTYPES / "dlsr_tiny18.json"), upscale=2)
