"""``benchmarks/candidate_losses.py`` (standalone loss of each candidate in a single-path supernet) and
``benchmarks/candidate_oracle.py`` (paired differences over seeds of uniform genotypes trained alone)."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from srnas.search.loop import run_search

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


cl, oracle = _load("candidate_losses"), _load("candidate_oracle")


def _tiny_search(tmp_path, name, weight_paths):
    from srnas.archs.genotype import Genotype
    from srnas.config.schema import build
    from srnas.config.search import SearchOptions

    teacher = tmp_path / "teacher.json"  # a known-answer task: the blocks carry part of the targets
    Genotype.make("imdn", ["conv3"] * 4, 8, 1, scale=2).save(teacher)
    raw = {"name": name, "scale": 2, "network_g": {"type": "imdn", "num_feat": 8, "num_block": 1,
                                                    "primitives": ["conv3", "sep3", "noise"]},
           "datasets": {"train": {"hr_dir": "datasets/T91", "index_range": [1, 60], "lq_patch": 12, "batch_size": 2},
                        "arch": {"hr_dir": "datasets/T91", "index_range": [61, 91], "lq_patch": 12, "batch_size": 2},
                        "teacher": {"genotype": str(teacher)}},
           "search": {"iters": 150, "warmup_iters": 150, "weight_paths": weight_paths,
                      "optim_w": {"type": "Adam", "lr": 5e-3}},
           "logger": {"print_freq": 10, "save_checkpoint_freq": 150, "use_tb_logger": False},
           "path": {"experiments_root": str(tmp_path)}}
    return run_search(build(SearchOptions, raw), raw, progress=False).exp_dir


def test_standalone_losses_rank_the_harmful_candidate_last_and_refuse_mixture_runs(tmp_path, capsys):
    torch.manual_seed(0)
    run = _tiny_search(tmp_path, "single_s0", "single")
    assert cl.main([str(run), "--batches", "4", "--report", str(tmp_path / "r.md")]) == 0
    res = json.loads((run / "candidate_losses.json").read_text())
    assert res["step"] == 150 and len(res["rows"]) == 4
    for row in res["rows"]:  # fresh noise in place of a feature map hurts more than any real op
        assert int(torch.tensor(row["loss"]).argmax()) == res["primitives"].index("noise"), row["loss"]
        assert row["best"] != "noise" and row["gap_se"] >= 0 and "teacher_rank" in row
    assert "single" in (tmp_path / "r.md").read_text()
    mixed = _tiny_search(tmp_path, "mixed_s0", "mixture")
    assert cl.main([str(mixed)]) == 2
    assert "weight_paths is 'mixture'" in capsys.readouterr().err


def test_oracle_pairs_count_a_difference_only_when_the_interval_excludes_zero(tmp_path):
    psnr = {"conv5": [36.0, 36.1, 36.2], "conv3": [35.8, 35.9, 36.0], "sep3": [36.3, 35.6, 36.1]}
    for op, ps in psnr.items():
        for seed, p in enumerate(ps):
            d = tmp_path / oracle.run_name(op, seed)
            d.mkdir()
            (d / "results.json").write_text(json.dumps({"final_psnr": p, "params": 1}))
    args = type("A", (), {"ops": list(psnr), "seeds": [0, 1, 2], "root": tmp_path, "iters": 10,
                          "opt": tmp_path / "o.yml"})()
    res = oracle.summarize(args)
    pairs = {(p["a"], p["b"]): p for p in res["pairs"]}
    assert pairs[("conv5", "conv3")]["lo"] == pytest.approx(0.2)   # the same +0.2 at every seed: no spread
    assert oracle._verdict(pairs[("conv5", "conv3")]) == "conv5 above conv3"
    assert oracle._verdict(pairs[("conv5", "sep3")]) == "no difference shown"
    assert "1 of 3 pairs differ" in oracle.markdown(res, "cmd", 0.0)
