"""Reproduce the reference PSNR table of ../shared/weights/README.md with srnas (all official checkpoints, all four
benchmark sets) plus params and Mult-Adds, and write experiments/reports/reference_table.{md,json}.

    .venv/bin/python benchmarks/reference_table.py [--shared ../shared] [--out experiments/reports]

Skip-if-done per (network, set): results already in the JSON are kept, so an interrupted run continues.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from srnas.archs import create_model  # noqa: E402
from srnas.data import BenchmarkDataset  # noqa: E402
from srnas.eval.bench import evaluate  # noqa: E402
from srnas.eval.profile import profile  # noqa: E402

SETS = ("Set5", "Set14", "B100", "Urban100")
# network, scale, arch, genotype, weights (relative to shared/weights), reference (shared/weights/README.md)
NETS = [
    ("IMDN", 2, "imdn", None, "imdn/IMDN_x2.pth", (37.9960, 33.6266, 32.1885, 32.1740)),
    ("IMDN", 3, "imdn", None, "imdn/IMDN_x3.pth", (34.3597, 30.3216, 29.0944, 28.1651)),
    ("IMDN", 4, "imdn", None, "imdn/IMDN_x4.pth", (32.2096, 28.5820, 27.5600, 26.0410)),
    ("DLSR", 2, "dlsr", "options/genotypes/dlsr_x2_released.json", "dlsr/DLSR_x2.pt",
     (38.0387, 33.6306, 32.2343, 32.2557)),
]
# The SA-DARTS paper's DLSR row is a DLSR its authors retrained (method notes); the released checkpoint is compared with it
SA_DARTS_DLSR_ROW = dict(zip(SETS, (37.91, 33.56, 32.17, 32.10)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=str(REPO.parent / "shared"))
    ap.add_argument("--out", default=str(REPO / "experiments" / "reports"))
    args = ap.parse_args()
    shared, out = Path(args.shared), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    jpath = out / "reference_table.json"
    results = json.loads(jpath.read_text()) if jpath.exists() else {}
    t_all = time.perf_counter()
    for net_name, s, arch, geno, weights, ref in NETS:
        key = f"{net_name}_x{s}"
        model = create_model(arch, scale=s, weights=shared / "weights" / weights,
                             genotype=REPO / geno if geno else None).eval()
        entry = results.setdefault(key, {"weights": weights, "sets": {}})
        entry["params"] = sum(p.numel() for p in model.parameters())
        entry["macs_1280x720_output"] = profile(model, s)["macs"]
        for ds_name, r in zip(SETS, ref):
            if ds_name in entry["sets"]:
                continue
            ds = BenchmarkDataset(shared / "data" / "benchmark", ds_name, s)
            with torch.inference_mode():
                res = evaluate(model, ds, s, ssim=True)
            res["reference"] = r
            res["diff"] = res["psnr"] - r
            entry["sets"][ds_name] = res
            jpath.write_text(json.dumps(results, indent=2))
            print(f"{key} {ds_name}: {res['psnr']:.4f} dB (reference {r:.4f}, diff {res['diff']:+.4f}), "
                  f"SSIM {res['ssim']:.4f}, {res['seconds']:.0f} s", flush=True)
    lines = ["# Official checkpoints through srnas vs the reference table", "",
             "Command: `.venv/bin/python benchmarks/reference_table.py` (CPU). PSNR/SSIM on Y (BT.601, not rounded) of",
             "the uint8 SR output, border = scale; Set14 `bridge.png` as 3 channels; Urban100 LR made on the fly with",
             "the MATLAB-exact bicubic. Reference: `../shared/weights/README.md`.", "",
             "| network | params | Mult-Adds (1280x720 out) | set | PSNR | reference | diff | SSIM |",
             "|---|---|---|---|---|---|---|---|"]
    for key, e in results.items():
        for ds_name, r in e["sets"].items():
            lines.append(f"| {key} | {e['params']:,} | {e['macs_1280x720_output'] / 1e9:.2f} G | {ds_name} | "
                         f"{r['psnr']:.4f} | {r['reference']:.4f} | {r['diff']:+.4f} | {r['ssim']:.4f} |")
    worst = max(abs(r["diff"]) for e in results.values() for r in e["sets"].values())
    lines += ["", f"Largest |diff|: {worst:.4f} dB."]
    if "DLSR_x2" in results:
        sets = results["DLSR_x2"]["sets"]
        lines += ["", "The released DLSR x2 checkpoint vs the SA-DARTS paper's DLSR row (a DLSR its authors retrained): "
                  + ", ".join(f"{d} {sets[d]['psnr']:.2f} vs {ref:.2f} ({sets[d]['psnr'] - ref:+.2f} dB)"
                              for d, ref in SA_DARTS_DLSR_ROW.items() if d in sets) + "."]
    (out / "reference_table.md").write_text("\n".join(lines) + "\n")
    print(f"written {out / 'reference_table.md'} ({time.perf_counter() - t_all:.0f} s)")


if __name__ == "__main__":
    main()
