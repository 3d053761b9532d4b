"""Time one bi-level supernet search step (alpha step + weight step: forward, backward, Adam) and its peak memory, for
the naive mixed op (candidate loop, fp32, NCHW, as the DLSR reference code) and the optimized one, in the same run.

    .venv/bin/python benchmarks/search_step.py [--configs imdn_darts dlsr_darts imdn_sac dlsr_sac] [--batch 16]
        [--lq 32] [--threads 1] [--rounds 2] [--reps 2] [--ablation] [--json FILE] [--md FILE]

Configurations: ``imdn_darts`` (IMDN space, 64 channels), ``dlsr_darts`` (DLSR space, 48 channels), full-channel mixed
ops, same math both ways; ``imdn_sac`` / ``dlsr_sac``: partial channels (K = 4) on the optimized path, compared with
the naive full-channel step. ``--ablation`` adds one row per technique (see VARIANTS).

Method. Every (configuration, variant) runs in its own subprocess, interleaved round by round, so that peak memory is
per process and machine load hits all variants alike; figures are medians over rounds of the per-process median step.
The step is ``srnas.search.step.alpha_step`` then ``weight_step`` (SA-DARTS Algorithm 1 order) on synthetic in-memory
batches (``lq`` B x 3 x P x P, ``gt`` at x2), after ``--warmup`` untimed steps.
* time: wall clock, and process CPU time / threads ("cpu"; on a shared machine the wall clock also counts waiting for
  a core, CPU time does not).
* memory: one more step after the timed ones, on CPU under the PyTorch profiler with ``profile_memory``: the peak of
  the running sum of allocations and frees, i.e. live tensor bytes over those live before the step (the resident set
  is no measure: freed tensors stay resident in glibc's heap); on CUDA ``torch.cuda.max_memory_allocated`` minus the
  allocation before the step. Activations, gradients and temporaries count; weights and the Adam state (allocated by
  the warm-up step) do not. The process's whole peak resident set is reported too (``rss_peak_bytes``).
* MACs: fvcore's count (``srnas.eval.profile.count_macs``: convolutions and matmuls, no bias) of one training-mode
  forward of the supernet as it runs (the optimized path executes fewer MACs than the loop); a step counts
  2 x 3 x forward MACs (alpha step and weight step, forward + backward = 3 x forward, the usual convention). A folded
  conv computed through the FFT counts as the direct conv it replaces (its rate is then an effective one: the FFT
  executes fewer multiply-adds; ``fast_direct`` gives the direct conv's real GEMM efficiency).
  "% of peak" = achieved MACs/s / the fp32 GEMM peak measured in this run (``benchmarks/gemm_peak.py``) with the same
  clock and thread count. "naive-equivalent" rates count the naive loop's MACs for the same step.
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from clock import load_note, timed  # noqa: E402

CONFIGS = {  # name: (space, partial K)
    "imdn_darts": ("imdn", 1), "dlsr_darts": ("dlsr", 1), "imdn_sac": ("imdn", 4), "dlsr_sac": ("dlsr", 4),
}
# variant: (impl, channels_last, autocast dtype or None, checkpointing, torch.compile, fast depthwise backward,
#          folded conv through the FFT where faster, what)
VARIANTS = {
    "naive": ("naive", False, None, False, False, False, False,
              "candidate loop, fp32, NCHW, ATen convs (DLSR reference)"),
    "naive_cl": ("naive", True, None, False, False, False, False, "candidate loop + channels_last"),
    "fold": ("fast", False, None, False, False, True, False,
             "fused mixed op (folds, shared tails, BN-weight fold), NCHW, direct convs"),
    "fast_atendw": ("fast", True, None, False, False, False, True, "fast with ATen's depthwise backward"),
    "fast_direct": ("fast", True, None, False, False, True, False, "fast with the folded conv computed directly "
                    "(no FFT)"),
    "fast": ("fast", True, None, False, False, True, True, "fused mixed op + channels_last + DepthwiseConv2d backward "
             "+ FFT folded conv where faster (the default, exact)"),
    "fast_ckpt": ("fast", True, None, True, False, True, True,
                  "fast + the cheap candidate heads recomputed in backward (memory)"),
    "fast_bf16": ("fast", True, "bfloat16", True, False, True, True, "fast_ckpt + bf16 autocast (not exact; no FFT)"),
    "fast_compile": ("fast", True, None, False, True, True, True, "fast + torch.compile (inductor)"),
}
ABLATION = ("naive_cl", "fold", "fast_atendw", "fast_direct", "fast_ckpt", "fast_bf16")


# ---- worker (one configuration/variant per process) ------------------------------------------------------------------
def _status(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return 0


def peak_allocated(fn) -> int:
    """Peak of the bytes allocated by ``fn()`` and still live, over what was live before it (CPU): the running sum of
    the allocator's events recorded by the PyTorch profiler (``profile_memory``). The process's resident set is no
    measure of that: freed tensors stay resident in glibc's heap (and the RSS then tracks fragmentation)."""
    import itertools

    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = sorted((e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"),
                    key=lambda e: e.start_ns())
    return max(itertools.accumulate((e.nbytes() for e in events), initial=0))


def supernet_step(space: str, feat: int, blocks: int, k: int, batch_size: int, lq: int, device: torch.device,
                  impl: str = "fast"):
    """The measured step, built once for every benchmark: a seeded supernet (train mode), a synthetic batch (``lq``
    B x 3 x P x P, ``gt`` at x2) and the search's two Adam optimizers. Returns ``(net, batch, step)``; ``step(model)``
    runs ``alpha_step`` then ``weight_step`` (SA-DARTS Algorithm 1 order) on ``model`` (default: ``net``; a
    ``torch.compile`` of it works too)."""
    from srnas.search.spaces import DLSRSupernet, IMDNSupernet
    from srnas.search.step import StepContext, alpha_step, weight_step

    torch.manual_seed(0)
    cls = IMDNSupernet if space == "imdn" else DLSRSupernet
    net = cls(num_feat=feat, num_block=blocks, partial_k=k, impl=impl).to(device).train()
    g = torch.Generator().manual_seed(1)
    batch = {"lq": torch.rand(batch_size, 3, lq, lq, generator=g).to(device),
             "gt": torch.rand(batch_size, 3, 2 * lq, 2 * lq, generator=g).to(device)}
    opt_w = torch.optim.Adam(net.weight_parameters(), lr=5e-4, weight_decay=1e-8)
    opt_a = torch.optim.Adam(net.arch_parameters(), lr=3e-4, betas=(0.5, 0.999))
    ctx = StepContext(0, 1, 10)

    def step(model: torch.nn.Module = net) -> None:
        alpha_step(model, batch, opt_a, [], ctx)
        weight_step(model, batch, opt_w, ctx)

    return net, batch, step


def forward_macs(net: torch.nn.Module, lq: torch.Tensor) -> int:
    """fvcore's MACs of one forward of the supernet, on a copy (the traced forward would move BN statistics and the
    channel samplers of ``net``); a folded conv computed through the FFT counts as the direct conv it replaces (the
    FFT executes fewer, uncounted complex products)."""
    from srnas.eval.profile import count_macs
    from srnas.search.mixed_op import MixedOp

    probe = copy.deepcopy(net)
    for m in probe.modules():
        if isinstance(m, MixedOp):
            m.fft = False
    with torch.no_grad():
        return count_macs(probe, lq)


def worker(spec: dict) -> dict:
    """Build the supernet of ``spec``, run warm-up and timed bi-level steps, return times, memory and MACs."""
    from srnas.archs.depthwise import plain_depthwise
    from srnas.search.mixed_op import MixedOp

    torch.set_num_threads(spec["threads"])
    device = torch.device(spec["device"])
    impl, cl, amp, ckpt, compile_, fast_dw, fft, _ = VARIANTS[spec["variant"]]
    net, batch, run = supernet_step(spec["space"], spec["feat"], spec["blocks"], spec["k"], spec["batch"], spec["lq"],
                                    device, impl)
    net.channels_last = cl
    if not fast_dw:
        plain_depthwise(net)
    for m in net.modules():
        if isinstance(m, MixedOp):
            m.recompute, m.fft = ckpt, fft
    macs = forward_macs(net, batch["lq"]) if spec["macs"] else 0
    model = torch.compile(net) if compile_ else net
    if compile_:  # the step functions call net.op_alphas() etc.: give the compiled module the supernet's methods
        for name in ("op_alphas", "path_alphas", "arch_parameters", "weight_parameters", "mixing_weights"):
            setattr(model, name, getattr(net, name))
        model.num_block = net.num_block
    autocast = torch.autocast(device.type, dtype=getattr(torch, amp)) if amp else None

    def step() -> None:
        if autocast is not None:
            with autocast:
                run(model)
        else:
            run(model)

    first = timed(step, device)[0]  # first step: allocates the Adam state (and compiles)
    for _ in range(spec["warmup"] - 1):
        step()
    walls, cpus = map(list, zip(*(timed(step, device) for _ in range(spec["reps"]))))
    # memory: one more step after the timed ones (profiled: slower)
    if device.type == "cuda":
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        step()
        peak, method = torch.cuda.max_memory_allocated(), "torch.cuda.max_memory_allocated - allocated before the step"
    else:
        base, peak = 0, peak_allocated(step)
        method = ("peak of live tensor bytes allocated during one step over those live before it (PyTorch profiler "
                  "allocator events)")
    return {**spec, "wall_s": statistics.median(walls), "cpu_s": statistics.median(cpus), "walls": walls,
            "cpus": cpus, "first_step_s": first, "peak_bytes": peak - base, "rss_peak_bytes": _status("VmHWM"),
            "memory_method": method, "fwd_macs": macs, "threads": torch.get_num_threads(), "load": load_note()}


RETRAIN = {  # derived network: (arch, genotype file, batch, LR patch) of its retraining recipe (options/train/*.yml)
    "imdn": ("imdn", None, 16, 96), "sac_imdn": ("imdn", "options/genotypes/sac_imdn_x2.json", 32, 64),
    "dlsr": ("dlsr", "options/genotypes/dlsr_x2_released.json", 32, 64),
}


def retrain_worker(spec: dict) -> dict:
    """One training step of a derived network (L1, Adam; fp32, channels-last): forward, backward, optimizer."""
    from srnas.archs import create_model
    from srnas.archs.genotype import Genotype
    from srnas.eval.profile import count_macs

    torch.set_num_threads(spec["threads"])
    device = torch.device(spec["device"])
    arch, geno, _, _ = RETRAIN[spec["net"]]
    torch.manual_seed(0)
    net = create_model(arch, scale=2, genotype=Genotype.load(REPO / geno) if geno else None).to(device).train()
    net = net.to(memory_format=torch.channels_last)
    g = torch.Generator().manual_seed(1)
    b, p = spec["batch"], spec["lq"]
    lq = torch.rand(b, 3, p, p, generator=g).to(device).contiguous(memory_format=torch.channels_last)
    gt = torch.rand(b, 3, 2 * p, 2 * p, generator=g).to(device)
    with torch.no_grad():
        macs = count_macs(net, lq)
    opt = torch.optim.Adam(net.parameters(), lr=2e-4)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.l1_loss(net(lq), gt).backward()
        opt.step()

    for _ in range(spec["warmup"]):
        step()
    walls, cpus = map(list, zip(*(timed(step, device) for _ in range(spec["reps"]))))
    return {**spec, "wall_s": statistics.median(walls), "cpu_s": statistics.median(cpus), "fwd_macs": macs,
            "load": load_note()}


def loader_rate(hr_dir: Path, batch: int, lq: int, n: int = 20) -> dict:
    """Seconds per batch of ``srnas.data.TrainDataset`` (preloaded images, random crops + flips) through a DataLoader
    with no worker processes: the step must take much longer for the loader never to starve it."""
    from torch.utils.data import DataLoader

    from srnas.data import TrainDataset

    t0 = time.perf_counter()
    ds = TrainDataset(hr_dir, 2, lq, repeat=max(1, n * batch // 91 + 1))
    load = time.perf_counter() - t0
    it = iter(DataLoader(ds, batch_size=batch, shuffle=True, num_workers=0))
    next(it)
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n - 1):
        next(it)
    return {"hr_dir": str(hr_dir), "images": len(ds.hr_paths), "preload_s": load,
            "s_per_batch_wall": (time.perf_counter() - t0) / (n - 1),
            "s_per_batch_cpu": (time.process_time() - c0) / (n - 1)}


def run_worker(spec: dict) -> dict:
    if "net" in spec:
        spec = {**spec, "retrain": True}
    out = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)], capture_output=True, text=True,
                         cwd=REPO)
    if out.returncode:
        raise RuntimeError(f"worker {spec.get('config', spec.get('net'))} failed:\n{out.stderr[-3000:]}")
    return json.loads([ln for ln in out.stdout.splitlines() if ln.startswith("{")][-1])


def gemm_worker(threads: int, device: str) -> dict:
    code = (f"import sys, json; sys.path.insert(0, {str(REPO / 'benchmarks')!r}); from gemm_peak import gemm_peak; "
            f"print(json.dumps(gemm_peak({threads}, device={device!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---- driver ----------------------------------------------------------------------------------------------------------
def _rows(args: argparse.Namespace) -> list[tuple[str, str, int]]:
    """(config, variant, K) to run; the naive K = 1 run of a space serves its darts and sac rows."""
    rows: list[tuple[str, str, int]] = []
    variants = list(dict.fromkeys(["fast"] + list(args.variants) + (list(ABLATION) if args.ablation else [])
                                  + (["fast_compile"] if args.compile else [])))
    for cfg in args.configs:
        space, k = CONFIGS[cfg]
        naive_cfg = f"{space}_darts"
        if (naive_cfg, "naive", 1) not in rows:
            rows.append((naive_cfg, "naive", 1))
        for v in variants:
            if k > 1 and v in ("naive_cl", "fold"):
                continue
            rows.append((cfg, v, k))
        if k > 1 and args.ablation:
            rows.append((cfg, "naive", k))  # partial channels alone, on the loop
    return rows


def summarize(results: list[dict], gemm: dict, args: argparse.Namespace) -> dict:
    by: dict[tuple[str, str, int], list[dict]] = {}
    for r in results:
        by.setdefault((r["config"], r["variant"], r["k"]), []).append(r)
    med = {key: {f: statistics.median(x[f] for x in rs) for f in ("wall_s", "cpu_s", "peak_bytes", "rss_peak_bytes")}
           | {"fwd_macs": max(x["fwd_macs"] for x in rs), "runs": len(rs), "memory_method": rs[0]["memory_method"]}
           for key, rs in by.items()}
    peak_wall, peak_cpu = gemm["macs_per_s_wall"], gemm["macs_per_s_cpu"]
    out: dict = {"settings": {k: v for k, v in vars(args).items() if k not in ("json", "md", "worker")},
                 "gemm_peak": gemm, "configs": {}}
    for cfg in args.configs:
        space, k = CONFIGS[cfg]
        naive = med[(f"{space}_darts", "naive", 1)]
        entry: dict = {"space": space, "partial_k": k, "naive": naive, "variants": {}}
        for (c, v, kk), m in med.items():
            if c != cfg or (v == "naive" and kk == 1):
                continue
            name = v if not (v == "naive" and kk > 1) else f"naive_k{kk}"
            step_macs, naive_macs = 6 * m["fwd_macs"], 6 * naive["fwd_macs"]
            entry["variants"][name] = {
                **m, "speedup": naive["wall_s"] / m["wall_s"], "speedup_cpu": naive["cpu_s"] / m["cpu_s"],
                "memory_ratio": m["peak_bytes"] / naive["peak_bytes"],
                "step_macs": step_macs,
                "peak_fraction_wall": step_macs / m["wall_s"] / peak_wall,
                "peak_fraction_cpu": step_macs / m["cpu_s"] / peak_cpu,
                "peak_fraction_cpu_5x": 5 / 6 * step_macs / m["cpu_s"] / peak_cpu,
                "naive_equiv_peak_fraction_cpu": naive_macs / m["cpu_s"] / peak_cpu,
                "what": VARIANTS[v][-1] if name == v else "candidate loop, partial channels"}
        naive["peak_fraction_cpu"] = 6 * naive["fwd_macs"] / naive["cpu_s"] / peak_cpu
        naive["peak_fraction_cpu_5x"] = 5 * naive["fwd_macs"] / naive["cpu_s"] / peak_cpu
        naive["peak_fraction_wall"] = 6 * naive["fwd_macs"] / naive["wall_s"] / peak_wall
        fast = entry["variants"]["fast"]
        entry.update({"naive_time_s": naive["wall_s"], "optimized_time_s": fast["wall_s"],
                      "naive_cpu_s": naive["cpu_s"], "optimized_cpu_s": fast["cpu_s"],
                      "naive_peak_bytes": naive["peak_bytes"], "optimized_peak_bytes": fast["peak_bytes"],
                      "speedup": fast["speedup"], "speedup_cpu": fast["speedup_cpu"],
                      "memory_ratio": fast["memory_ratio"]})
        out["configs"][cfg] = entry
    return out


SEARCH_ITERS, SEARCH_BATCH = 300_000, 64  # options/search/*.yml: 300 epochs of 1000 iterations, batch 64 (DLSR)
RETRAIN_ITERS = 1_000_000  # options/train/*.yml: 1000 epochs of 1000 iterations


def projection(summary: dict) -> dict:
    """Hours for the paper-scale schedules on this machine: search = step time x (64 / batch) x 300k iterations
    (step time linear in the batch), retrain = training-step time x 1M iterations. CPU-time based (one idle core
    per thread)."""
    s, out = summary["settings"], {"search": {}, "retrain": {}}
    scale = SEARCH_BATCH / s["batch"]
    for cfg, e in summary["configs"].items():
        out["search"][cfg] = {"naive_h": e["naive_cpu_s"] * scale * SEARCH_ITERS / 3600,
                              "optimized_h": e["optimized_cpu_s"] * scale * SEARCH_ITERS / 3600}
    for name, r in summary.get("retrain", {}).items():
        out["retrain"][name] = {"batch": r["batch"], "lq": r["lq"], "step_cpu_s": r["cpu_s"],
                                "hours": r["cpu_s"] * RETRAIN_ITERS / 3600}
    return out


def markdown(summary: dict) -> str:
    s, gp = summary["settings"], summary["gemm_peak"]
    lines = [f"Bi-level search step (alpha step + weight step, Adam), batch {s['batch']}, LR patch {s['lq']}x{s['lq']} "
             f"(HR {2 * s['lq']}), {s['blocks']} blocks, device {s['device']}, {gp['threads']} thread(s); medians of "
             f"{s['rounds']} interleaved process(es) x {s['reps']} timed step(s). fp32 GEMM peak "
             f"{gp['macs_per_s_wall'] / 1e9:.1f} GMAC/s (wall), {gp['macs_per_s_cpu'] / 1e9:.1f} GMAC/s (CPU time). "
             f"{summary['load_before']} at start, {summary['load_after']} at the end.", "",
             "| config | variant | step wall (s) | step CPU (s) | speedup wall / CPU | peak mem (MB) | mem ratio | "
             "GMACs/step | % GEMM peak (CPU), 6x / 5x |", "|---|---|---|---|---|---|---|---|---|"]
    for cfg, e in summary["configs"].items():
        n = e["naive"]
        lines.append(f"| {cfg} | naive (K=1) | {n['wall_s']:.2f} | {n['cpu_s']:.2f} | 1.00 / 1.00 | "
                     f"{n['peak_bytes'] / 2**20:.0f} | 1.00 | {6 * n['fwd_macs'] / 1e9:.1f} | "
                     f"{100 * n['peak_fraction_cpu']:.0f}% / {100 * n['peak_fraction_cpu_5x']:.0f}% |")
        for v, m in e["variants"].items():
            lines.append(f"| {cfg} | {v} | {m['wall_s']:.2f} | {m['cpu_s']:.2f} | {m['speedup']:.2f} / "
                         f"{m['speedup_cpu']:.2f} | {m['peak_bytes'] / 2**20:.0f} | {m['memory_ratio']:.2f} | "
                         f"{m['step_macs'] / 1e9:.1f} | {100 * m['peak_fraction_cpu']:.0f}% / "
                         f"{100 * m['peak_fraction_cpu_5x']:.0f}% |")
    lines += ["", "Variants: " + "; ".join(f"`{k}`: {v[-1]}" for k, v in VARIANTS.items()) + "; `naive_k4`: candidate "
              "loop on partial channels.", "",
              f"Memory: {next(iter(summary['configs'].values()))['naive']['memory_method']}. MACs: fvcore forward "
              "count x 6 per bi-level step (2 x forward+backward = 3 x forward; GMACs/step column). The alpha step's "
              "backward computes no weight gradients (but the folded kernels'), so 6x overstates it; the second "
              "percentage counts 5x (alpha step forward + input gradients = 2x, weight step 3x). A folded conv "
              "computed through the FFT (`fast`, `fast_ckpt` where `srnas.search.fft_conv.worthwhile`) counts as the "
              "direct conv it replaces, so its percentage is an effective rate; `fast_direct` shows the direct "
              "conv's."]
    if summary.get("retrain"):
        lines += ["", "Retraining step of the derived networks (L1, Adam, fp32, channels-last, x2):", "",
                  "| network | batch | LR patch | step wall (s) | step CPU (s) | % GEMM peak (CPU) |",
                  "|---|---|---|---|---|---|"]
        for name, r in summary["retrain"].items():
            lines.append(f"| {name} | {r['batch']} | {r['lq']} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | "
                         f"{100 * r['peak_fraction_cpu']:.0f}% |")
    pr = summary["projection"] if s["blocks"] == 6 else {"search": {}, "retrain": {}}  # the paper's 6-block supernets
    if pr["search"] or pr["retrain"]:
        lines += ["", f"Projected cost on this machine (CPU time, {summary['gemm_peak']['threads']} thread(s)): "
                  f"search = step x {SEARCH_BATCH}/{s['batch']} (batch {SEARCH_BATCH}) x {SEARCH_ITERS:,} iterations; "
                  f"retrain = step x {RETRAIN_ITERS:,} iterations.", "", "| schedule | naive (h) | optimized (h) |",
                  "|---|---|---|"]
        for cfg, p in pr["search"].items():
            lines.append(f"| search {cfg} | {p['naive_h']:,.0f} | {p['optimized_h']:,.0f} |")
        for name, p in pr["retrain"].items():
            lines.append(f"| retrain {name} | | {p['hours']:,.0f} |")
    if summary.get("note"):
        lines += ["", f"Note: {summary['note']}."]
    if "data_loader" in summary:
        d = summary["data_loader"]
        lines += ["", f"Data: `TrainDataset` ({d['images']} preloaded images of {d['hr_dir']}, random crops and flips) "
                  f"through a DataLoader with no workers makes one batch in {1e3 * d['s_per_batch_cpu']:.1f} ms "
                  f"CPU ({1e3 * d['s_per_batch_wall']:.1f} ms wall); a step takes two (alpha and weight split): the "
                  "loader cannot starve it."]
    return "\n".join(lines) + "\n"


def step_arguments(ap: argparse.ArgumentParser) -> None:
    """The measured step's shape (configurations, batch, patch, widths, blocks, K), shared by the step benchmarks."""
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lq", type=int, default=32, help="LR patch size (the x2 HR search patch is twice this)")
    ap.add_argument("--imdn-feat", type=int, default=64)
    ap.add_argument("--dlsr-feat", type=int, default=48)
    ap.add_argument("--blocks", type=int, default=6)
    ap.add_argument("--k", type=int, default=4, help="partial-channel K of the *_sac configurations")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    step_arguments(ap)
    ap.add_argument("--threads", type=int, default=0, help="torch threads per process (0: torch's default)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved processes per (config, variant)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed steps per process (the first allocates Adam state)")
    ap.add_argument("--reps", type=int, default=2, help="timed steps per process")
    ap.add_argument("--variants", nargs="*", default=[], choices=[v for v in VARIANTS if v != "naive"],
                    help="variants to time besides naive and fast")
    ap.add_argument("--ablation", action="store_true", help="also time each technique on its own (and the naive loop "
                    "with partial channels)")
    ap.add_argument("--compile", action="store_true", help="also time torch.compile (slow to compile)")
    ap.add_argument("--retrain", nargs="*", default=[], choices=list(RETRAIN),
                    help="also time a training step of these derived networks at their retraining batch and patch")
    ap.add_argument("--data", default=str(REPO / "datasets" / "T91"), help="HR folder for the data-loader check "
                    "('' to skip)")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--md", help="write the markdown table here")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        spec = json.loads(args.worker)
        print(json.dumps(retrain_worker(spec) if spec.get("retrain") else worker(spec)))
        return
    threads = args.threads or torch.get_num_threads()
    for cfg in args.configs:
        CONFIGS[cfg] = (CONFIGS[cfg][0], args.k if CONFIGS[cfg][1] > 1 else 1)
    rows = _rows(args)
    load_before = load_note()
    gemm = [gemm_worker(threads, args.device)]
    results = []
    for r in range(args.rounds):
        for cfg, variant, k in rows:
            space = CONFIGS[cfg][0]
            spec = {"config": cfg, "variant": variant, "space": space, "k": k, "batch": args.batch, "lq": args.lq,
                    "feat": args.imdn_feat if space == "imdn" else args.dlsr_feat, "blocks": args.blocks,
                    "threads": threads, "device": args.device, "warmup": args.warmup, "reps": args.reps,
                    "macs": r == 0}
            res = run_worker(spec)
            results.append(res)
            print(f"round {r + 1}/{args.rounds} {cfg:10s} {variant:12s} K={k}: wall {res['wall_s']:.2f} s, "
                  f"cpu {res['cpu_s']:.2f} s, peak {res['peak_bytes'] / 2**20:.0f} MB ({res['load']})", flush=True)
        gemm.append(gemm_worker(threads, args.device))
    retrain = {}
    for name in args.retrain:
        _, _, batch, lq = RETRAIN[name]
        res = run_worker({"net": name, "batch": batch, "lq": lq, "threads": threads, "device": args.device,
                          "warmup": args.warmup, "reps": args.reps})
        retrain[name] = res
        print(f"retrain {name}: wall {res['wall_s']:.2f} s, cpu {res['cpu_s']:.2f} s", flush=True)
    best = max(gemm, key=lambda g: g["macs_per_s_cpu"])
    best = {**best, "macs_per_s_wall": max(g["macs_per_s_wall"] for g in gemm), "runs": gemm}
    summary = summarize(results, best, args)
    summary["load_before"], summary["load_after"] = load_before, load_note()
    if args.data and Path(args.data).is_dir():
        summary["data_loader"] = loader_rate(Path(args.data), args.batch, args.lq)
    summary["runs"] = results
    for name, res in retrain.items():
        res["peak_fraction_cpu"] = 3 * res["fwd_macs"] / res["cpu_s"] / best["macs_per_s_cpu"]
    summary["retrain"] = retrain
    summary["projection"] = projection(summary)
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
