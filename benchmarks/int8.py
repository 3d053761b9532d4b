"""int8 vs fp32 ONNX for the official IMDN x2, DLSR x2 and a searched network: PSNR on the four benchmark sets, CPU
latency (same run), file size. Writes ``experiments/reports/int8.{md,json}``; finished cells are kept (skip-if-done),
so an interrupted run continues where it stopped.

    .venv/bin/python benchmarks/int8.py [--nets imdn_x2 dlsr_x2 searched] [--sets Set5 Set14 B100 Urban100]
        [--threads 1] [--report-only]

* The int8 file is what ``srnas export --format onnx --quantize int8`` makes (``srnas.export.export_int8``: static
  quantisation, QLinearConv with per-channel int8 weights for the convs but the first and last, 99.99th-percentile
  calibration on 48x48 LR crops of 32 T91 images; ``srnas.export.quantize``), written even when its Set5 drop
  exceeds the CLI's 0.1 dB limit (``accept_drop``) so it can be measured; the report says which would be
  refused. Latency: ``export_int8``'s measurement (256x256 LR input, ONNX Runtime CPU, ``--threads``, fp32 and int8
  interleaved, median of 5).
* PSNR: ``srnas.eval.bench`` on ``../shared/data/benchmark`` (Y, border = scale, no SSIM), fp32 and int8 ONNX files
  through ONNX Runtime; the PyTorch figures of the official networks come from ``reference_table.json``.
* ``searched``: the quickstart search's genotype (``experiments/search_settings/quickstart_sac_imdn_x2/
  genotype.json``, SAC, IMDN space, 32 channels, 4 blocks) retrained for 1,500 iterations with
  ``options/train/quickstart.yml`` (trained here when ``experiments/deploy_searched_imdn_x2`` is missing, ~10 min).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from srnas.archs import create_model  # noqa: E402
from srnas.eval.bench import bench  # noqa: E402
from srnas.export import export_int8, export_model, load_onnx  # noqa: E402
from srnas.train.model_file import load_model_file  # noqa: E402
from srnas.utils.files import atomic_write_text  # noqa: E402

SHARED = REPO.parent / "shared"
DATA = SHARED / "data" / "benchmark"
SEARCHED = REPO / "experiments" / "deploy_searched_imdn_x2"
SEARCHED_GENOTYPE = "experiments/search_settings/quickstart_sac_imdn_x2/genotype.json"
TRAIN_CMD = [sys.executable, "-m", "srnas", "--quiet", "train", "-opt", "options/train/quickstart.yml",
             "--set", "name=deploy_searched_imdn_x2", "--set", f"network_g={{genotype: {SEARCHED_GENOTYPE}}}",
             "--set", "logger.use_tb_logger=false", "--set", "train.total_iter=1500", "--no-progress"]
REFERENCE = {"imdn_x2": "IMDN_x2", "dlsr_x2": "DLSR_x2"}  # keys of reference_table.json


def network(name: str):
    if name == "imdn_x2":
        return create_model("imdn", scale=2, weights=SHARED / "weights" / "imdn" / "IMDN_x2.pth").eval()
    if name == "dlsr_x2":
        return create_model(genotype=REPO / "options" / "genotypes" / "dlsr_x2_released.json", scale=2,
                            weights=SHARED / "weights" / "dlsr" / "DLSR_x2.pt").eval()
    if not (SEARCHED / "models" / "net_latest.pth").exists():
        print("training the searched network:", " ".join(TRAIN_CMD), flush=True)
        subprocess.run(TRAIN_CMD, check=True, cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return load_model_file(SEARCHED / "models" / "net_latest.pth")


def _row(name: str, prec: str, n: dict, sets: list[str]) -> str:
    cells, fp32, m = n.get(prec, {}), n.get("fp32", {}), n.get("measure", {})
    psnr = []
    for s in sets:
        text = f"{cells[s]:.4f}" if s in cells else "-"
        if prec == "int8" and s in cells and s in fp32:
            text += f" ({cells[s] - fp32[s]:+.3f})"
        psnr.append(text)
    lat, size, ok = m.get(f"latency_{prec}"), m.get(f"size_{prec}"), ""
    if prec == "int8" and m:
        ok = "yes" if m["psnr_drop"] <= 0.1 else f"no (Set5 drop {m['psnr_drop']:.3f} dB > 0.1)"
    latency = f"{lat * 1e3:.0f}" if lat else "-"
    size_mb = f"{size / 1e6:.2f}" if size else "-"
    return f"| {name} | {prec} | " + " | ".join(psnr) + f" | {latency} | {size_mb} | {ok} |"


def markdown(r: dict) -> str:
    sets = r["sets"]
    lines = ["# int8 ONNX vs fp32", "",
             "Made by `benchmarks/int8.py` (this machine's CPU, AVX512-VNNI and AMX; other jobs shared the 2 cores, so "
             "latencies are indicative, but fp32 and int8 ran interleaved in the same process). int8: ONNX Runtime "
             "static quantisation (operator format: QLinearConv with per-channel int8 weights and uint8 activations "
             "for the convolutions but the first and the last, 99.99th-percentile calibration on 48x48 LR crops of 32 "
             "T91 images at the model's scale; `srnas export --quantize int8`). PSNR on Y, border = scale; in "
             "brackets the change against fp32. Latency: 256x256 LR input, one thread, median of 5.",
             "",
             "| network | precision | " + " | ".join(sets) +
             " | latency (ms) | size (MB) | written by `srnas export` |",
             "|---|---|" + "---|" * len(sets) + "---|---|---|"]
    for name, n in r["nets"].items():
        lines += [_row(name, prec, n, sets) for prec in ("pytorch", "fp32", "int8") if n.get(prec)]
    ratios = [f"{k} {v['measure']['latency_int8'] / v['measure']['latency_fp32']:.2f}x"
              for k, v in r["nets"].items() if "measure" in v]
    lines += ["", "Latency int8 / fp32: " + ", ".join(ratios) + ".", "",
              "pytorch rows: `reference_table.json` (eager PyTorch, same convention).", "",
              f"searched: {r.get('searched', '')}", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nets", nargs="+", default=["imdn_x2", "dlsr_x2", "searched"])
    ap.add_argument("--sets", nargs="+", default=["Set5", "Set14", "B100", "Urban100"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--work", default=str(REPO / "experiments" / "int8"), help="where the ONNX files go (ignored)")
    ap.add_argument("--out", default=str(REPO / "experiments" / "reports"))
    ap.add_argument("--report-only", action="store_true", help="rewrite int8.md from int8.json, run nothing")
    args = ap.parse_args()
    out, work = Path(args.out), Path(args.work)
    if args.report_only:
        atomic_write_text(out / "int8.md", markdown(json.loads((out / "int8.json").read_text())))
        return
    work.mkdir(parents=True, exist_ok=True)
    path = out / "int8.json"
    r = json.loads(path.read_text()) if path.exists() else {}
    r["sets"] = args.sets
    r["searched"] = (f"genotype `{SEARCHED_GENOTYPE}` retrained 1,500 iterations (`options/train/quickstart.yml`, "
                     "net_latest.pth)")
    ref = json.loads((out / "reference_table.json").read_text())

    def save() -> None:
        atomic_write_text(path, json.dumps(r, indent=2) + "\n")
        atomic_write_text(out / "int8.md", markdown(r))

    models = {}
    for name in args.nets:
        n = r.setdefault("nets", {}).setdefault(name, {})
        if name in REFERENCE:
            n["pytorch"] = {s: v["psnr"] for s, v in ref[REFERENCE[name]]["sets"].items() if s in args.sets}
        fp32, int8 = work / f"{name}_fp32.onnx", work / f"{name}_int8.onnx"
        if "measure" not in n or not int8.exists() or not fp32.exists():
            model = network(name)
            res = export_int8(model, int8, force=True, accept_drop=True, threads=args.threads)
            export_model(model, fp32, "onnx", force=True)
            n["measure"] = {"psnr_set5_fp32": res.psnr_fp32, "psnr_set5_int8": res.psnr_int8,
                            "psnr_drop": res.psnr_drop, "latency_fp32": res.latency_fp32,
                            "latency_int8": res.latency_int8, "size_fp32": res.size_fp32, "size_int8": res.size_int8,
                            "threads": res.threads, "calib_images": res.calib_images}
            print(name, "\n".join(res.lines()), flush=True)
            save()
        models[name] = {"fp32": fp32, "int8": int8}
    for s in args.sets:  # set by set, so a stopped run has the small sets for every network
        for name in args.nets:
            for prec in ("fp32", "int8"):
                cells = r["nets"][name].setdefault(prec, {})
                if s not in cells:
                    cells[s] = bench(load_onnx(models[name][prec]), 2, [s], DATA, ssim=False)[s]["psnr"]
                    print(name, prec, s, f"{cells[s]:.4f}", flush=True)
                    save()
    save()
    print(markdown(r))


if __name__ == "__main__":
    main()
