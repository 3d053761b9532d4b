"""Inference speed of the derived networks (IMDN, SAC-IMDN, DLSR) at a 640x360 input: PyTorch eager vs TorchScript vs
ONNX Runtime, with achieved MACs/s as a fraction of the fp32 GEMM peak measured in the same run.

    .venv/bin/python benchmarks/inference.py [--nets imdn sac_imdn dlsr] [--scale 2] [--hw 360 640] [--threads 1]
        [--reps 5] [--json FILE] [--md FILE]

Networks are built from their genotypes with random weights (speed does not depend on the values) and BatchNorm folded
(``srnas.export.compact``). Runtimes, all fp32 on the CPU (or CUDA when present, ONNX Runtime's CUDA provider if it
has one):
* ``eager``: ``model(x)`` under ``torch.inference_mode``, NCHW;  ``eager_cl``: the same in channels-last memory;
* ``torchscript``: ``torch.jit.trace`` (``srnas.export``) loaded back; ``torchscript_frozen``: plus ``torch.jit.freeze``
  and ``torch.jit.optimize_for_inference`` (oneDNN weight layouts);
* ``onnxruntime``: the ``srnas.export`` ONNX file (opset 18) in an ONNX Runtime session, all graph optimizations,
  ``intra_op_num_threads`` = threads.
Each runtime's output is compared with eager (max abs difference). Times are medians over ``--reps`` runs, the
runtimes interleaved run by run; "CPU" times are process CPU time / threads. MACs: ``srnas.eval.profile.count_macs``
(fvcore: convolutions and matmuls, no bias) of one forward; "% peak" = MACs / time / GEMM peak, same clock.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from clock import load_note, timed  # noqa: E402
from gemm_peak import gemm_peak  # noqa: E402
from srnas.archs import create_model  # noqa: E402
from srnas.archs.genotype import Genotype  # noqa: E402
from srnas.eval.profile import count_macs  # noqa: E402
from srnas.export import compact  # noqa: E402
from srnas.export.onnx import export_onnx  # noqa: E402
from srnas.export.torchscript import export_torchscript, load_torchscript  # noqa: E402

NETS = {  # name: (arch, genotype file or None)
    "imdn": ("imdn", None),
    "sac_imdn": ("imdn", "options/genotypes/sac_imdn_x2.json"),
    "dlsr": ("dlsr", "options/genotypes/dlsr_x2_released.json"),
}
RUNTIMES = ("eager", "eager_cl", "torchscript", "torchscript_frozen", "onnxruntime")


def build(name: str, scale: int) -> torch.nn.Module:
    arch, geno = NETS[name]
    torch.manual_seed(0)
    genotype = Genotype.load(REPO / geno) if geno else None
    if genotype is not None and genotype.scale != scale:
        genotype = Genotype.make(genotype.space, genotype.ops, genotype.num_feat, genotype.num_block,
                                 genotype.connections, scale=scale, primitives=genotype.primitives)
    model = create_model(arch, scale=scale, genotype=genotype).eval()
    return compact(model)[0]


def runners(model: torch.nn.Module, x: torch.Tensor, threads: int, tmp: Path, runtimes: list[str]) -> dict:
    """One callable ``() -> (1, 3, sH, sW) tensor`` per runtime."""
    out = {}
    if "eager" in runtimes:
        out["eager"] = lambda: model(x)
    if "eager_cl" in runtimes:
        model_cl = __import__("copy").deepcopy(model).to(memory_format=torch.channels_last)
        x_cl = x.contiguous(memory_format=torch.channels_last)
        out["eager_cl"] = lambda: model_cl(x_cl)
    if "torchscript" in runtimes or "torchscript_frozen" in runtimes:
        path = tmp / "model.pt"
        export_torchscript(model, path, x[..., :64, :64].contiguous())
        ts = load_torchscript(path, x.device)
        if "torchscript" in runtimes:
            out["torchscript"] = lambda: ts(x)
        if "torchscript_frozen" in runtimes:
            frozen = torch.jit.optimize_for_inference(torch.jit.freeze(load_torchscript(path, x.device)))
            out["torchscript_frozen"] = lambda: frozen(x)
    if "onnxruntime" in runtimes:
        import onnxruntime as ort

        path = tmp / "model.onnx"
        export_onnx(model, path, x[..., :64, :64].contiguous().cpu())
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        providers = ["CPUExecutionProvider"]
        if x.device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        sess = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
        name = sess.get_inputs()[0].name
        arr = np.ascontiguousarray(x.cpu().numpy())
        out["onnxruntime"] = lambda: torch.from_numpy(sess.run(None, {name: arr})[0])
    return out


def bench_net(name: str, args: argparse.Namespace, device: torch.device) -> dict:
    model = build(name, args.scale).to(device)
    h, w = args.hw
    x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0)).to(device)
    with torch.no_grad():
        macs = count_macs(model, x)
    params = sum(p.numel() for p in model.parameters())
    with tempfile.TemporaryDirectory() as tmp, torch.inference_mode():
        t0 = time.perf_counter()
        fns = runners(model, x, torch.get_num_threads(), Path(tmp), args.runtimes)
        setup = time.perf_counter() - t0
        ref = fns["eager"]() if "eager" in fns else model(x)
        diffs = {}
        for rt, fn in fns.items():  # warm-up (first-run allocations, oneDNN primitive creation) + parity
            for _ in range(args.warmup):
                y = fn()
            diffs[rt] = float((y.to(ref.device).float() - ref).abs().max())
        walls: dict[str, list[float]] = {rt: [] for rt in fns}
        cpus: dict[str, list[float]] = {rt: [] for rt in fns}
        for _ in range(args.reps):
            for rt, fn in fns.items():
                wall, cpu = timed(fn, device)
                walls[rt].append(wall)
                cpus[rt].append(cpu)
    res = {"params": params, "macs": macs, "input_hw": [h, w], "scale": args.scale, "setup_s": setup,
           "runtimes": {}}
    for rt in fns:
        wall, cpu = statistics.median(walls[rt]), statistics.median(cpus[rt])
        res["runtimes"][rt] = {"wall_s": wall, "cpu_s": cpu, "walls": walls[rt], "cpus": cpus[rt],
                               "max_abs_diff_vs_eager": diffs[rt], "macs_per_s_wall": macs / wall,
                               "macs_per_s_cpu": macs / cpu}
    return res


def markdown(summary: dict) -> str:
    s, gp = summary["settings"], summary["gemm_peak"]
    h, w = s["hw"]
    lines = [f"Derived networks, x{s['scale']}, one {w}x{h} input (output {w * s['scale']}x{h * s['scale']}), fp32, "
             f"device {s['device']}, {gp['threads']} thread(s), median of {s['reps']} runs. fp32 GEMM peak "
             f"{gp['macs_per_s_wall'] / 1e9:.1f} GMAC/s (wall), {gp['macs_per_s_cpu'] / 1e9:.1f} GMAC/s (CPU time). "
             f"{summary['load_before']} at start, {summary['load_after']} at the end.", "",
             "| network | params | GMACs | runtime | wall (s) | CPU (s) | GMAC/s (CPU) | % GEMM peak (wall / CPU) | "
             "max diff vs eager |", "|---|---|---|---|---|---|---|---|---|"]
    for net, r in summary["nets"].items():
        for rt, m in r["runtimes"].items():
            lines.append(f"| {net} | {r['params']:,} | {r['macs'] / 1e9:.1f} | {rt} | {m['wall_s']:.3f} | "
                         f"{m['cpu_s']:.3f} | {m['macs_per_s_cpu'] / 1e9:.1f} | "
                         f"{100 * m['peak_fraction_wall']:.0f}% / {100 * m['peak_fraction_cpu']:.0f}% | "
                         f"{m['max_abs_diff_vs_eager']:.1e} |")
    lines += ["", "MACs: fvcore (convolutions and matmuls, no bias), BatchNorm folded. CPU time = process CPU time / "
              "threads (on a shared machine the wall clock also counts waiting for a core)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nets", nargs="+", default=list(NETS), choices=list(NETS))
    ap.add_argument("--runtimes", nargs="+", default=list(RUNTIMES), choices=list(RUNTIMES))
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--hw", type=int, nargs=2, default=(360, 640), metavar=("H", "W"), help="LR input size")
    ap.add_argument("--threads", type=int, default=0, help="torch / ONNX Runtime threads (0: torch's default)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--md", help="write the markdown table here")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    load_before = load_note()
    gemm = [gemm_peak(torch.get_num_threads(), device=args.device)]
    nets = {}
    for name in args.nets:
        nets[name] = bench_net(name, args, device)
        for rt, m in nets[name]["runtimes"].items():
            print(f"{name:9s} {rt:19s} wall {m['wall_s']:.3f} s, cpu {m['cpu_s']:.3f} s, "
                  f"{m['macs_per_s_cpu'] / 1e9:.1f} GMAC/s (cpu), diff {m['max_abs_diff_vs_eager']:.1e}", flush=True)
        gemm.append(gemm_peak(torch.get_num_threads(), device=args.device))
    best = {**max(gemm, key=lambda g: g["macs_per_s_cpu"]),
            "macs_per_s_wall": max(g["macs_per_s_wall"] for g in gemm), "runs": gemm}
    for r in nets.values():
        for m in r["runtimes"].values():
            m["peak_fraction_wall"] = m["macs_per_s_wall"] / best["macs_per_s_wall"]
            m["peak_fraction_cpu"] = m["macs_per_s_cpu"] / best["macs_per_s_cpu"]
    summary = {"settings": {k: v for k, v in vars(args).items() if k not in ("json", "md")}, "gemm_peak": best,
               "nets": nets, "load_before": load_before, "load_after": load_note()}
    md = markdown(summary)
    print(md)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(summary, indent=1))
    if args.md:
        Path(args.md).parent.mkdir(parents=True, exist_ok=True)
        Path(args.md).write_text(md)


if __name__ == "__main__":
    main()
