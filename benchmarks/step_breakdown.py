"""Where the optimized search step's time goes, and how close to the GEMM peak it could get.

    .venv/bin/python benchmarks/step_breakdown.py [--configs imdn_darts dlsr_darts imdn_sac dlsr_sac] [--threads 1]
        [--json FILE] [--md FILE]

Same supernets, batch and step as ``benchmarks/search_step.py`` (``fast``, the default path). Per configuration, after
warm-up steps, it times ``--reps`` plain steps (process CPU time), then profiles one step (PyTorch profiler, shapes
and arguments recorded) and sorts every op's self time into kinds by its outermost conv/BN/optimizer/gather ancestor:

* ``conv kxk``, ``conv 1x1``: ATen dense convolutions (forward and backward), with their multiply-adds from the
  recorded shapes, strides and dilations (backward: one forward's worth per computed gradient), so each gets an
  achieved rate (the other kinds do not);
* ``conv kxk (FFT)``: ``srnas.search.fft_conv`` (forward and backward); ``depthwise conv``: ATen grouped convs and
  ``srnas.archs.depthwise`` (forward and backward);
* ``batch norm``, ``channel gather/scatter`` (SAC's sampled channels), ``optimizer`` (Adam step, zero_grad);
* ``other``: the rest (elementwise ops, the folded kernels' construction, copies, autograd bookkeeping).

The profiler's own cost per event (measured on a loop of tiny ops with and without it) is taken off every kind in
proportion to its number of profiled events; the kinds' shares are then applied to the plain step's time (the profiled
step, its cost removed, is reported too).

Ceiling: if every convolution ran at the fp32 GEMM peak and the rest kept its measured time, the step would reach
``T_mac / (T_mac + T_rest)`` of the peak (where the convs already beat ``T_mac``, through the FFT, their measured time
replaces it; ``T_mac`` = the step's MACs as counted by ``search_step.py``, 6x or 5x the fvcore forward count, over the
peak). Depthwise convs cannot run at a GEMM's rate, so this bound is generous. The peak is measured before and after
the steps and the higher one kept (a shared VM's speed drifts; a low peak would flatter the step).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from clock import load_note, timed  # noqa: E402
from gemm_peak import gemm_peak  # noqa: E402
from search_step import CONFIGS, forward_macs, step_arguments, supernet_step  # noqa: E402

KINDS = ("conv kxk", "conv kxk (FFT)", "conv 1x1", "depthwise conv", "batch norm", "channel gather/scatter",
         "optimizer", "other")
CONV_KINDS = KINDS[:4]
_FUNCTION_KIND = {"_FFTConv": "conv kxk (FFT)", "_FFTConvBackward": "conv kxk (FFT)",
                  "_DepthwiseSame": "depthwise conv", "_DepthwiseSameBackward": "depthwise conv"}
_GATHER = {"aten::index_select", "aten::index_copy", "aten::index_copy_", "aten::index_fill_", "aten::index_add_",
           "aten::scatter_add_", "aten::index"}


def _conv_kind_and_macs(e) -> tuple[str, int]:
    """Kind and multiply-adds of an ``aten::convolution`` or ``aten::convolution_backward`` event (recorded shapes and
    concrete arguments)."""
    shapes, args = e.input_shapes, e.concrete_inputs
    if e.name == "aten::convolution":
        (n, _, h, w), wt = shapes[0], shapes[1]
        stride, padding, dilation, groups = args[3], args[4], args[5], args[8]
        o, i_g, kh, kw = wt
        ho = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
        wo = (w + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
        passes = 1
    else:  # convolution_backward(grad_output, input, weight, bias_sizes, stride, padding, dilation, transposed,
        #                         output_padding, groups, output_mask)
        (n, o, ho, wo), wt = shapes[0], shapes[2]
        _, i_g, kh, kw = wt
        groups, mask = args[9], args[10]
        passes = int(mask[0]) + int(mask[1])
    kind = "depthwise conv" if groups > 1 else ("conv 1x1" if kh * kw == 1 else "conv kxk")
    return kind, passes * n * o * ho * wo * i_g * kh * kw


def _kind_of_root(e) -> str | None:
    """The kind an event starts, if any (outermost such ancestor wins)."""
    name = e.name
    if name in _FUNCTION_KIND:
        return _FUNCTION_KIND[name]
    if name in ("aten::convolution", "aten::convolution_backward"):
        return "conv"
    if "batch_norm" in name:
        return "batch norm"
    if name.startswith("Optimizer."):
        return "optimizer"
    if name in _GATHER:
        return "channel gather/scatter"
    return None


def classify(events) -> dict[str, dict]:
    """Per kind: profiled self time (s), event count and (ATen dense convs) multiply-adds."""
    out = {k: {"self_s": 0.0, "events": 0, "macs": 0} for k in KINDS}
    root_kind: dict[int, str] = {}
    for e in events:
        root, a = None, e
        while a is not None:  # outermost ancestor (or the event itself) that starts a kind
            if _kind_of_root(a) is not None:
                root = a
            a = a.cpu_parent
        if root is None:
            kind = "other"
        else:
            if id(root) not in root_kind:
                kind = _kind_of_root(root)
                if kind == "conv":
                    kind, macs = _conv_kind_and_macs(root)
                    if kind != "depthwise conv":  # srnas's depthwise functions are uncounted: no rate for the kind
                        out[kind]["macs"] += macs
                root_kind[id(root)] = kind
            kind = root_kind[id(root)]
        out[kind]["self_s"] += e.self_cpu_time_total / 1e6
        out[kind]["events"] += 1
    return out


def profiler_cost(n: int = 5_000, rounds: int = 3) -> float:
    """CPU seconds the profiler (shapes recorded) adds per event: a loop of tiny ops timed with and without it."""
    from torch.profiler import ProfilerActivity, profile

    x = torch.zeros(1)

    def loop() -> None:
        for _ in range(n):
            torch.add(x, 1)

    costs = []
    for _ in range(rounds):
        plain = timed(loop)[1]
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            profiled = timed(loop)[1]
        costs.append(max(0.0, profiled - plain) / len(prof.profiler.kineto_results.events()))
    return statistics.median(costs)


def breakdown(space: str, feat: int, k: int, blocks: int, batch: int, lq: int, warmup: int, reps: int,
              per_event: float) -> dict:
    """One configuration: plain step CPU time, the profiled step's time by kind (``per_event`` profiler seconds taken
    off each event) and the step's MACs."""
    from torch.profiler import ProfilerActivity, profile

    net, data, step = supernet_step(space, feat, blocks, k, batch, lq, torch.device("cpu"))
    fwd_macs = forward_macs(net, data["lq"])
    for _ in range(warmup):
        step()
    cpus = [timed(step)[1] for _ in range(reps)]
    plain = statistics.median(cpus)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        profiled = timed(step)[1]
    kinds = classify(prof.events())
    n_events = sum(v["events"] for v in kinds.values())
    for v in kinds.values():
        v["s"] = max(0.0, v["self_s"] - per_event * v["events"])
    total = sum(v["s"] for v in kinds.values())
    for v in kinds.values():  # shares of the profiled step, applied to the plain one
        v["share"] = v["s"] / total
        v["s"] = v["share"] * plain
        v["macs_per_s"] = v["macs"] / v["s"] if v["macs"] and v["s"] else None
    return {"step_cpu_s": plain, "step_cpus": cpus, "profiled_step_cpu_s": profiled, "breakdown_s": total,
            "profiler_cost_per_event_s": per_event, "events": n_events, "fwd_macs": fwd_macs, "kinds": kinds}


def summarize(result: dict, peak: float) -> dict:
    """Achieved fraction of the GEMM peak and its ceiling (the convs at the peak, or as measured where faster: the
    FFT's effective rate can pass it; the rest as measured), 6x and 5x."""
    rest = sum(v["s"] for kind, v in result["kinds"].items() if kind not in CONV_KINDS)
    conv = sum(result["kinds"][kind]["s"] for kind in CONV_KINDS)
    out = {"rest_s": rest, "conv_s": conv}
    for mult in (6, 5):
        t_mac = mult * result["fwd_macs"] / peak
        out[f"peak_fraction_{mult}x"] = mult * result["fwd_macs"] / result["step_cpu_s"] / peak
        out[f"ceiling_{mult}x"] = t_mac / (min(t_mac, conv) + rest)
    return out


def markdown(report: dict) -> str:
    s, peak = report["settings"], report["gemm_peak"]["macs_per_s_cpu"]
    measured = ", ".join(f"{g['macs_per_s_cpu'] / 1e9:.1f}" for g in report["gemm_peaks_measured"])
    lines = [f"Where the optimized (`fast`) search step's CPU time goes: batch {s['batch']}, LR {s['lq']}x{s['lq']}, "
             f"{s['blocks']} blocks, {report['gemm_peak']['threads']} thread(s), fp32 GEMM peak {peak / 1e9:.1f} "
             f"GMAC/s (CPU time; the higher of the measurements before and after: {measured}). Medians of "
             f"{s['reps']} plain steps; kinds from one profiled step, the profiler's "
             f"{1e6 * report['profiler_cost_per_event_s']:.1f} us per event removed. {report['load_before']} at start, "
             f"{report['load_after']} at the end.", "",
             "| config | step CPU (s): plain / profiled, its cost removed | " + " | ".join(KINDS)
             + " | % GEMM peak, 6x / 5x | ceiling: convs at the peak, 6x / 5x |",
             "|---|---|" + "---|" * len(KINDS) + "---|---|"]
    for cfg, r in report["configs"].items():
        cells = []
        for kind in KINDS:
            v = r["kinds"][kind]
            rate = f", {v['macs_per_s'] / 1e9:.0f} GMAC/s" if v["macs_per_s"] else ""
            cells.append(f"{v['s']:.2f} s ({100 * v['share']:.0f}%{rate})")
        sm = r["summary"]
        lines.append(f"| {cfg} | {r['step_cpu_s']:.2f} / {r['breakdown_s']:.2f} | " + " | ".join(cells) + f" | "
                     f"{100 * sm['peak_fraction_6x']:.0f}% / {100 * sm['peak_fraction_5x']:.0f}% | "
                     f"{100 * sm['ceiling_6x']:.0f}% / {100 * sm['ceiling_5x']:.0f}% |")
    lines += ["", "Kinds: see `benchmarks/step_breakdown.py`. GMAC/s: multiply-adds of the ATen dense convs of that "
              "kind (from the recorded shapes; backward: one forward's worth per computed gradient) over the kind's "
              "time. % GEMM peak: the step's MACs (fvcore forward count x 6, or x 5, as `search_step.py`) over its "
              "CPU time and the peak. Ceiling: the same MACs at the GEMM peak (or the convolutions' measured time "
              "where shorter: the FFT) plus the measured time of everything but the convolutions."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    step_arguments(ap)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--md", help="write the markdown table here")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    report: dict = {"settings": {k: v for k, v in vars(args).items() if k not in ("json", "md")},
                    "load_before": load_note(), "configs": {}}
    peaks = [gemm_peak(args.threads)]
    report["profiler_cost_per_event_s"] = per_event = profiler_cost()
    for cfg in args.configs:
        space, k = CONFIGS[cfg]
        feat = args.imdn_feat if space == "imdn" else args.dlsr_feat
        k = args.k if k > 1 else 1
        report["configs"][cfg] = {"partial_k": k, **breakdown(space, feat, k, args.blocks, args.batch, args.lq,
                                                              args.warmup, args.reps, per_event)}
        print(f"{cfg}: done", flush=True)
    # the machine's speed drifts on a shared VM: the higher of the two peaks (a lower one would flatter the step)
    peaks.append(gemm_peak(args.threads))
    report["gemm_peaks_measured"] = peaks
    report["gemm_peak"] = max(peaks, key=lambda g: g["macs_per_s_cpu"])
    for cfg, r in report["configs"].items():
        r["summary"] = sm = summarize(r, report["gemm_peak"]["macs_per_s_cpu"])
        print(f"{cfg}: step {r['step_cpu_s']:.2f} s CPU (profiled, its cost removed: {r['breakdown_s']:.2f} s), "
              f"convs {sm['conv_s']:.2f} s, rest {sm['rest_s']:.2f} s; {100 * sm['peak_fraction_6x']:.0f}% of the "
              f"GEMM peak (6x), ceiling {100 * sm['ceiling_6x']:.0f}%", flush=True)
        for kind, v in r["kinds"].items():
            rate = f" {v['macs_per_s'] / 1e9:.1f} GMAC/s" if v["macs_per_s"] else ""
            print(f"    {kind:24s} {v['s']:7.3f} s {100 * v['share']:5.1f}%{rate}")
    report["load_after"] = load_note()
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    if args.md:
        Path(args.md).write_text(markdown(report))


if __name__ == "__main__":
    main()
