"""``srnas bench``: PSNR/SSIM on the benchmark sets (optionally a markdown + JSON report with params and MACs)."""
from __future__ import annotations

import argparse
from pathlib import Path

from srnas.commands import add_report_latency, hw, load_from_args, model_args, progress_factory, write_json
from srnas.errors import SrnasError


def register(sub: argparse._SubParsersAction) -> None:
    sp = sub.add_parser("bench", help="PSNR/SSIM (Y, border = scale) on benchmark sets")
    model_args(sp, weights_required=True)
    sp.add_argument("--datasets", nargs="+", default=["Set5", "Set14", "B100", "Urban100"])
    sp.add_argument("--data-root", help="folder of <set>/HR and <set>/LR_bicubic (default: datasets/benchmark)")
    sp.add_argument("--json", help="write {set: {psnr, ssim, images}} here (self-ensemble: also {set}_x8)")
    sp.add_argument("--report", metavar="DIR", help="write DIR/report.md and DIR/report.json: PSNR/SSIM per set, "
                                                    "params and MACs for a 1280x720 output")
    sp.add_argument("--save-images", help="write SR images under this folder")
    sp.add_argument("--no-ssim", action="store_true", help="PSNR only (faster)")
    sp.add_argument("--self-ensemble", action="store_true",
                    help="also evaluate the x8 flip/transpose self-ensemble (8 forwards per image), reported beside "
                         "the plain results")
    sp.add_argument("--latency", action="store_true", help="also time the network end to end as deployed (ONNX, BN "
                    "folded, ONNX Runtime CPU; `srnas latency measure`'s path) and, with --report, add it there")
    sp.add_argument("--latency-input", type=hw, help="LR input HxW of the timing (default: the LR of a 1280x720 "
                                                     "output)")
    sp.add_argument("--latency-threads", type=int, default=1, help="intra-op threads of the timing (default 1)")
    sp.add_argument("--latency-repeats", type=int, default=5, help="timed runs after one warm-up (default 5)")
    sp.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    sp.add_argument("--no-progress", action="store_true")
    sp.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from srnas.eval.bench import bench, markdown_table, self_ensemble
    from srnas.utils.device import select_device

    device = select_device(args.device)
    if args.latency and (args.latency_threads < 1 or args.latency_repeats < 1):
        raise SrnasError("--latency-threads and --latency-repeats must be >= 1")
    loaded = load_from_args(args, device)
    model = loaded.model
    print(f"model: {loaded.describe()}")
    if args.latency and loaded.architecture() is None:
        raise SrnasError(f"{args.weights}: --latency needs the architecture, which this file does not record (give "
                         "--arch/--genotype, or time the file with `srnas latency measure`)")
    kw = dict(datasets=args.datasets, data_root=args.data_root, device=device, ssim=not args.no_ssim,
              progress_factory=progress_factory(not args.no_progress))
    x8 = None
    with torch.inference_mode():
        results = bench(model, args.scale, save_images=args.save_images, **kw)
        if args.self_ensemble:
            x8 = bench(self_ensemble(model), args.scale, **kw)
    print(markdown_table(results, x8))
    if args.json:
        write_json(args.json, {**results, **{f"{k}_x8": v for k, v in (x8 or {}).items()}})
        print(f"results written to {args.json}")
    if args.report:
        from srnas.eval.bench import write_report

        write_report(args.report, loaded.architecture(), args.scale, results, args.weights, results_x8=x8,
                     runtime=loaded.runtime)
        print(f"report written to {Path(args.report) / 'report.md'}")
    if args.latency:
        _latency(args, loaded.architecture())
    return 0


def _latency(args: argparse.Namespace, arch) -> None:
    """Time ``arch`` as deployed (BN folded, ONNX Runtime CPU) and add it to the report."""
    from srnas.eval.profile import lr_input_hw
    from srnas.export.fold import compact
    from srnas.latency.build import measure_modules

    input_hw = args.latency_input or lr_input_hw(args.scale)
    r = measure_modules({"net": compact(arch)[0].cpu()}, input_hw, "cpu", args.latency_threads, 1,
                        args.latency_repeats)["net"]
    print(f"latency: {r['median']:.1f} ms median, {r['p90']:.1f} ms p90 ({r['runs']} runs, {args.latency_threads} "
          f"thread(s), {input_hw[0]}x{input_hw[1]} input, ONNX Runtime cpu)")
    if args.report:
        print(f"latency added to {add_report_latency(args.report, r, 'cpu', args.latency_threads, input_hw)}")
