"""int8 ONNX: ONNX Runtime's static quantisation of an fp32 srnas ONNX file, with its PSNR cost measured.

Recipe (``onnxruntime.quantization.quantize_static``): operator format (each convolution becomes a ``QLinearConv``:
uint8 activations in and out, per-channel int8 weights), activation ranges calibrated on LR crops made from
*training* images (T91 by default: the first 32 images whose LR is at least 48x48, MATLAB bicubic at the model's
scale, centre crops of 48x48); benchmark sets are refused as calibration data. Choices, each measured on Set5 x2
(PSNR change against fp32, official networks):

* only the convolutions are quantised (nearly all of the MACs); CCA's statistics, ESA's pooling/upsampling, the
  residual adds and DLSR's x255 scaling stay fp32: quantising every op (QDQ) lost more (IMDN -0.36 vs -0.10 dB);
* the first and the last convolution (RGB in, the upsampler's conv before PixelShuffle) stay fp32: DLSR -0.80 vs
  -1.08 dB (QDQ, MinMax), -0.38 vs -0.62 dB (QDQ, percentile);
* activation ranges: the 99.99th percentile of each tensor's histogram over the calibration crops instead of its
  min/max (SR activations have rare large outliers): DLSR -0.33 vs -0.80 dB (QDQ);
* operator format rather than QDQ with only the convs quantised: IMDN -0.10 vs -0.21 dB, DLSR -0.18 vs -0.30 dB.
  Neither ran faster than fp32 on this CPU (AVX512-VNNI, AMX): between the convs the activations go back to fp32
  for the ops that stay fp32, and those conversions cost what the int8 convs save (``experiments/reports/int8.md``).

:func:`quantize_onnx` writes nothing itself: :func:`srnas.export.export_int8` measures the candidate (Set5 PSNR
against fp32, CPU latency of both in the same run) and writes it only when the PSNR drop is within the limit.
"""
from __future__ import annotations

import os
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from srnas.errors import SrnasError

DEFAULT_CALIB = Path(__file__).resolve().parents[2] / "datasets" / "T91"
CALIB_IMAGES = 32  # calibration images (the first, sorted by name, whose LR holds a CALIB_CROP crop)
CALIB_CROP = 48  # LR side of the centre crops (the histogram calibrators need one shape)
PERCENTILE = 99.99  # activation range: this percentile of each tensor's absolute values
BENCHMARK_NAMES = {"set5", "set14", "b100", "bsd100", "urban100", "manga109", "benchmark"}


def check_calibration_dir(calib: str | Path) -> Path:
    """``calib`` itself, refused when it is (or lies in) a benchmark set: calibrating on test images inflates the
    reported PSNR."""
    p = Path(calib)
    if not p.is_dir():
        raise SrnasError(f"--calib: {p}: no such folder of training images")
    parts = {x.lower() for x in p.resolve().parts}
    hit = parts & BENCHMARK_NAMES
    if hit or (p / "HR").is_dir() or (p / "LR_bicubic").is_dir():
        raise SrnasError(f"--calib: {p} is a benchmark set ({', '.join(sorted(hit)) or 'HR/LR_bicubic layout'}); "
                         "calibrate on training images (default datasets/T91)")
    return p


def calibration_inputs(calib: str | Path, scale: int, limit: int = CALIB_IMAGES,
                       crop: int = CALIB_CROP) -> list[np.ndarray]:
    """LR calibration inputs: centre ``crop x crop`` crops of the first ``limit`` images of ``calib`` (sorted) whose
    MATLAB-bicubic LR (downscaled by ``scale``) is large enough, as ``(1, 3, crop, crop)`` float32 in [0, 1]. Every
    image goes through the guarded reader, also those too small to use."""
    from srnas.data import list_images, read_image
    from srnas.data.resize import downscale

    out = []
    for path in list_images(check_calibration_dir(calib)):
        hr = read_image(path)
        if len(out) >= limit or min(hr.shape[:2]) < crop * scale:
            continue
        lr = downscale(hr, scale)
        y, x = (lr.shape[0] - crop) // 2, (lr.shape[1] - crop) // 2
        patch = lr[y:y + crop, x:x + crop].transpose(2, 0, 1)
        out.append(np.ascontiguousarray(patch)[None].astype(np.float32) / 255.0)
    if not out:
        raise SrnasError(f"--calib: {calib}: no image large enough for a {crop}x{crop} LR crop at x{scale} "
                         f"(need {crop * scale}x{crop * scale} pixels)")
    return out


@contextmanager
def _quiet_quantizer():
    """The percentile calibrator prints its progress with ``print``: keep stdout for srnas' own lines."""
    with open(os.devnull, "w") as null, redirect_stdout(null):
        yield


def quantize_onnx(src: str | Path, dst: str | Path, inputs: list[np.ndarray]) -> None:
    """Static int8 quantisation of the fp32 ONNX file ``src`` into ``dst`` (written directly: pass a temporary
    file), calibrated on ``inputs`` (the model's ``lq``)."""
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quant_pre_process, quantize_static)

    from srnas.export.onnx import INPUT_NAME

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it: Iterator[np.ndarray] = iter(inputs)

        def get_next(self) -> Optional[dict[str, np.ndarray]]:
            x = next(self.it, None)
            return None if x is None else {INPUT_NAME: x}

    import onnx

    from srnas.export.onnx import META_KEY

    pre = Path(dst).with_name(Path(dst).name + ".pre.onnx")
    try:
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)  # shape inference + graph cleanup
        convs = [n.name for n in onnx.load(str(pre)).graph.node if n.op_type == "Conv"]
        with _quiet_quantizer():
            quantize_static(str(pre), str(dst), _Reader(), quant_format=QuantFormat.QOperator, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            op_types_to_quantize=["Conv"], nodes_to_exclude=[convs[0], convs[-1]],
                            calibrate_method=CalibrationMethod.Percentile,
                            extra_options={"CalibPercentile": PERCENTILE})
    finally:
        pre.unlink(missing_ok=True)
    # the quantiser drops the model's metadata: keep srnas' (scale, architecture) so the loader and profile know it
    meta = {e.key: e.value for e in onnx.load(str(src), load_external_data=False).metadata_props}
    proto = onnx.load(str(dst))
    del proto.metadata_props[:]
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    if META_KEY not in meta:
        raise SrnasError(f"{src}: not an srnas ONNX export (no {META_KEY!r} metadata)")
    onnx.save_model(proto, str(dst), save_as_external_data=False)


def cpu_latency(paths: list[str | Path], x: np.ndarray, threads: int = 1, reps: int = 5) -> list[float]:
    """Median seconds of one ONNX Runtime CPU run of each model on ``x``, the models interleaved run by run (same
    conditions for all), after one warm-up run each (``srnas.latency.runtime.time_sessions``)."""
    from srnas.latency.runtime import session, time_sessions

    runs = {}
    for i, p in enumerate(paths):
        sess = session(str(p), "cpu", threads)
        runs[str(i)] = (sess, {sess.get_inputs()[0].name: x})
    stats = time_sessions(runs, warmup=1, repeats=reps)
    return [stats[str(i)]["median"] / 1e3 for i in range(len(paths))]
