"""Upscaling image files with a network, a TorchScript file or an ONNX file, whole or in tiles.

Two tilings (``mode``, :func:`tile_mode`):

* ``exact`` (default for PyTorch networks): :mod:`srnas.exact_tiling`; the output equals the whole-image output
  (within 1 grey level, fp32 rounding) also for IMDN's CCA and DLSR's ESA, which use whole-image statistics; it
  costs extra passes (``experiments/reports/tiling.md``).
* ``approx`` (the only one for exported files): the LR image is cut into ``tile x tile`` cores; each core is run with
  ``overlap`` pixels of context on every side (fewer at the image border, where the network's own zero padding
  applies as in a whole-image run), and only the core's part of the output is kept. All windows have the same size
  ``tile + 2 * overlap`` (clipped to the image): the last row/column of windows is shifted inwards instead of shrunk.
  For convolution-only networks with ``overlap`` >= the receptive-field radius this equals the whole-image output
  (bit-identical at tile 256 here; ~1e-7 from summation order at some window sizes). For IMDN and DLSR each tile
  sees its own statistics: official IMDN x2 on a 400x600 photo differs by up to 26 grey levels at tile 64 (11 at
  tile 256), DLSR x2 by 13 (10) (``benchmarks/tiling.py``).

Memory: peak RSS is bounded by the model's activations on one window plus the uint8 LR and SR images and the float
LR image (untiled official IMDN x2 needs about +4.8 GiB per LR megapixel on CPU; tiled figures in
``experiments/reports/tiling.md``).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch

from srnas.data import read_image, write_image
from srnas.data.imageio import IMAGE_EXTENSIONS
from srnas.errors import SrnasError

log = logging.getLogger("srnas")
Model = Callable[[torch.Tensor], torch.Tensor]
PROBE_SIZE = 24  # LR side of the scale probe (DLSR's ESA needs >= 15)
TILE_MODES = ("auto", "exact", "approx")


@dataclass(frozen=True)
class Tile:
    """One tile: the core it produces and the window it reads, ``(y0, y1, x0, x1)`` in LR pixels (end exclusive)."""

    core: tuple[int, int, int, int]
    window: tuple[int, int, int, int]


def _spans(n: int, tile: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """``(core0, core1, win0, win1)`` along one axis of length ``n``."""
    win = min(n, tile + 2 * overlap)
    spans = []
    for c0 in range(0, n, tile):
        c1 = min(c0 + tile, n)
        w0 = min(max(c0 - overlap, 0), n - win)  # shift the last windows inwards: same size everywhere
        spans.append((c0, c1, w0, w0 + win))
    return spans


def tile_grid(h: int, w: int, tile: Optional[int], overlap: int) -> list[Tile]:
    """The tiles covering an ``h x w`` LR image (one tile, the whole image, for ``tile=None``).

    Every core pixel has at least ``overlap`` pixels of context in its window on each side, or the image border.
    """
    if tile is None:
        return [Tile((0, h, 0, w), (0, h, 0, w))]
    if tile < 1 or overlap < 0:
        raise SrnasError(f"--tile/--tile-overlap: need tile >= 1 and overlap >= 0, got {tile} and {overlap}")
    return [Tile((y0, y1, x0, x1), (wy0, wy1, wx0, wx1))
            for y0, y1, wy0, wy1 in _spans(h, tile, overlap) for x0, x1, wx0, wx1 in _spans(w, tile, overlap)]


def image_to_tensor(lq: np.ndarray) -> torch.Tensor:
    """uint8 RGB ``(H, W, 3)`` -> float ``(1, 3, H, W)`` in [0, 1] (the input of every srnas network), on CPU."""
    return torch.from_numpy(np.ascontiguousarray(lq.transpose(2, 0, 1))).unsqueeze(0).float().div_(255.0)


def _check_scale(sr: torch.Tensor, h: int, w: int, scale: int) -> None:
    if sr.shape[-2:] != (h * scale, w * scale):
        raise SrnasError(f"model output {tuple(sr.shape)} for a {h}x{w} input is not x{scale}")


@torch.no_grad()
def upscale_image(model: Model, lq: np.ndarray, device: torch.device | str = "cpu",
                  scale: Optional[int] = None) -> np.ndarray:
    """Run ``model`` on one whole uint8 RGB ``(h, w, 3)`` image; returns the uint8 RGB SR image (clamped to [0, 1],
    x255, rounded: ``eval.metrics.tensor_to_uint8``). With ``scale``, an output of another size is an error."""
    from srnas.eval.metrics import tensor_to_uint8

    sr = model(image_to_tensor(lq).to(device))
    if scale is not None:
        _check_scale(sr, *lq.shape[:2], scale)
    return tensor_to_uint8(sr[0])


@torch.no_grad()
def _run_tiles(model: Model, x: torch.Tensor, scale: int, tiles: Sequence[Tile], device: torch.device | str,
               write: Callable[[tuple[int, int, int, int], torch.Tensor], None], progress: Any = None) -> None:
    for t in tiles:
        y0, y1, x0, x1 = t.core
        wy0, wy1, wx0, wx1 = t.window
        sr = model(x[:, :, wy0:wy1, wx0:wx1].to(device))
        _check_scale(sr, wy1 - wy0, wx1 - wx0, scale)
        oy, ox = (y0 - wy0) * scale, (x0 - wx0) * scale
        write(((y0 * scale, y1 * scale, x0 * scale, x1 * scale)),
              sr[:, :, oy:oy + (y1 - y0) * scale, ox:ox + (x1 - x0) * scale])
        if progress is not None:
            progress.update(1)


def tile_mode(model: Model, mode: str = "auto") -> str:
    """``exact`` or ``approx``: the tiling :func:`upscale_tensor` uses for ``model``.

    ``auto`` is ``exact`` for a PyTorch network (:mod:`srnas.exact_tiling`) and ``approx`` for an exported file
    (TorchScript, ONNX), whose attention statistics are computed inside one graph; ``exact`` for an exported file is
    an error.
    """
    if mode not in TILE_MODES:
        raise SrnasError(f"--tile-mode: unknown mode {mode!r} (choose from {', '.join(TILE_MODES)})")
    pytorch = isinstance(model, torch.nn.Module) and not isinstance(model, torch.jit.ScriptModule)
    if mode == "auto":
        return "exact" if pytorch else "approx"
    if mode == "exact" and not pytorch:
        raise SrnasError("--tile-mode exact: needs the PyTorch network (an srnas model file, or a checkpoint with "
                         "--arch/--genotype); an exported TorchScript/ONNX file tiles only approximately "
                         "(--tile-mode approx)")
    return mode


def _tiled(model: Model, x: torch.Tensor, scale: int, tile: Optional[int], overlap: int, device, write,
           progress: Any, mode: str) -> None:
    if tile is not None and tile_mode(model, mode) == "exact":
        from srnas.exact_tiling import upscale_exact

        upscale_exact(model, x, scale, tile, write, device, progress)
        return
    _run_tiles(model, x, scale, tile_grid(*x.shape[-2:], tile, overlap), device, write, progress)


def count_runs(model: Model, h: int, w: int, tile: Optional[int], overlap: int, mode: str = "auto") -> int:
    """How many model runs (windows) an ``h x w`` image takes: for a progress bar."""
    if tile is not None and tile_mode(model, mode) == "exact":
        from srnas.exact_tiling import count_windows, trace_attention

        return count_windows(h, w, tile, len(trace_attention(model)[0]))
    return len(tile_grid(h, w, tile, overlap))


def upscale_tensor(model: Model, x: torch.Tensor, scale: int, tile: Optional[int] = None, overlap: int = 16,
                   device: torch.device | str = "cpu", progress: Any = None, mode: str = "auto") -> torch.Tensor:
    """Run ``model`` on ``x`` whole (``tile=None``) or tile by tile, into a float tensor on CPU.

    Args:
        model: ``(N, C, h, w)`` -> ``(N, C_out, h*s, w*s)``, eval mode (a network, ``torch.jit`` module or
            :class:`~srnas.export.onnx.OnnxModel`).
        x: ``(N, C, H, W)`` float input (RGB in [0, 1] for srnas networks), on CPU.
        scale: SR factor s.
        tile: core side in LR pixels; None runs the whole image at once.
        overlap: context pixels on each side of a core (approximate mode; the exact mode takes the network's
            receptive radius).
        device: where the model runs; tiles are moved there one at a time.
        progress: optional ``tqdm`` updated once per tile.
        mode: ``auto``, ``exact`` or ``approx`` (:func:`tile_mode`).

    Returns:
        ``(N, C_out, H*s, W*s)`` float32 on CPU.
    """
    n, _, h, w = x.shape
    out: Optional[torch.Tensor] = None

    def write(box: tuple[int, int, int, int], sr: torch.Tensor) -> None:
        nonlocal out
        if out is None:
            out = torch.empty(n, sr.shape[1], h * scale, w * scale, dtype=torch.float32)
        out[:, :, box[0]:box[1], box[2]:box[3]] = sr.float().cpu()

    _tiled(model, x, scale, tile, overlap, device, write, progress, mode)
    return out


def upscale_array(model: Model, lq: np.ndarray, scale: int, tile: Optional[int] = None, overlap: int = 16,
                  device: torch.device | str = "cpu", progress: Any = None, mode: str = "auto") -> np.ndarray:
    """:func:`upscale_tensor` for a uint8 RGB ``(H, W, 3)`` image, each tile's output rounded straight into a uint8
    ``(H*s, W*s, 3)`` array (clamped to [0, 1], x255, round half to even: ``eval.metrics.tensor_to_uint8``), so no
    float SR image is ever held. ``tile=None``: :func:`upscale_image`, the whole image at once."""
    from srnas.eval.metrics import tensor_to_uint8

    if tile is None:
        sr = upscale_image(model, lq, device, scale)
        if progress is not None:
            progress.update(1)
        return sr
    h, w = lq.shape[:2]
    x = image_to_tensor(lq)
    out = np.empty((h * scale, w * scale, 3), dtype=np.uint8)

    def write(box: tuple[int, int, int, int], sr: torch.Tensor) -> None:
        out[box[0]:box[1], box[2]:box[3]] = tensor_to_uint8(sr[0])

    _tiled(model, x, scale, tile, overlap, device, write, progress, mode)
    return out


@torch.no_grad()
def probe_scale(model: Model, device: torch.device | str = "cpu", size: int = PROBE_SIZE) -> int:
    """The SR factor of ``model``: output/input side ratio on a ``size x size`` gray image (SrnasError if it is not a
    whole number, or differs between height and width)."""
    y = model(torch.full((1, 3, size, size), 0.5, device=device))
    sh, sw = y.shape[-2], y.shape[-1]
    if sh != sw or sh % size:
        raise SrnasError(f"model: a {size}x{size} input gives {sh}x{sw}, not a whole-number upscale")
    return sh // size


@torch.no_grad()
def min_input_side(model: Model, device: torch.device | str = "cpu", limit: int = PROBE_SIZE) -> int:
    """The smallest square input (side 1..``limit``) ``model`` runs on: 1 for convolutional networks and IMDN, 15 for
    DLSR (ESA pools 7x7 on a half-resolution map). Images below it are refused with their name instead of failing
    inside the network."""
    for side in range(1, limit + 1):
        try:
            model(torch.zeros(1, 3, side, side, device=device))
            return side
        except Exception:  # noqa: BLE001  a probe: PyTorch and ONNX Runtime raise their own types
            continue
    return limit


def check_input_size(image: np.ndarray, min_side: int, path: str | Path) -> None:
    """SrnasError naming ``path`` when ``image`` is smaller than ``min_side`` on a side (:func:`min_input_side`)."""
    h, w = image.shape[:2]
    if min(h, w) < min_side:
        raise SrnasError(f"{path}: {w}x{h} image is too small for this network (needs at least {min_side} pixels "
                         "per side)")


def _is_image_name(p: Path) -> bool:
    return p.suffix.lower() in IMAGE_EXTENSIONS


def plan_outputs(inputs: str | Path, output_dir: str | Path, scale: int, force: bool = False,
                 min_side: int = 1) -> list[tuple[Path, Path]]:
    """``(input image, output file)`` pairs, everything checked before any work starts.

    ``inputs`` is an image file or a folder (its files, not subfolders; hidden files ignored). In a folder, a file
    without an image extension is skipped with a warning; a file with one must decode (:func:`read_image`). Outputs are
    ``<output_dir>/<stem>_x<scale>.png``. ``min_side``: the network's smallest input (:func:`min_input_side`).

    Raises:
        SrnasError: missing input, an input file that is not a readable image or is too small for the network, a
            folder without images, two inputs mapping to one output, an existing output without ``force``, an output folder that cannot be written.
    """
    src = Path(inputs)
    if src.is_dir():
        files = []
        for p in sorted(src.iterdir()):
            if p.name.startswith(".") or not p.is_file():
                continue
            if _is_image_name(p):
                files.append(p)
            else:
                log.warning("%s: skipped (not an image extension: %s)", p, ", ".join(IMAGE_EXTENSIONS))
        if not files:
            raise SrnasError(f"{src}: no image files ({', '.join(IMAGE_EXTENSIONS)})")
    elif src.is_file():
        files = [src]
    else:
        raise SrnasError(f"{src}: no such file or folder")
    out_dir = Path(output_dir)
    pairs: dict[Path, Path] = {}
    for p in files:
        check_input_size(read_image(p), min_side, p)  # decodes fully: a bad image fails before anything is written
        dst = out_dir / f"{p.stem}_x{scale}.png"
        if dst in pairs:
            raise SrnasError(f"{p}: would overwrite the output of {pairs[dst]} ({dst.name}); rename one of them")
        if dst.exists() and not force:
            raise SrnasError(f"{dst}: exists; use --force to overwrite")
        pairs[dst] = p
    _check_writable(out_dir)
    return [(p, dst) for dst, p in pairs.items()]


def _check_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".srnas-write-test.{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise SrnasError(f"{folder}: output folder is not writable ({e.strerror or e})") from None


def upscale_files(model: Model, pairs: Sequence[tuple[Path, Path]], scale: int, tile: Optional[int] = None,
                  overlap: int = 16, device: torch.device | str = "cpu",
                  progress_factory: Optional[Callable[..., Any]] = None, mode: str = "auto") -> list[Path]:
    """Upscale each ``(input, output)`` pair of :func:`plan_outputs`; returns the outputs written (PNG, atomic).

    Args:
        model: eval-mode model, ``(1, 3, h, w)`` RGB [0, 1] -> ``(1, 3, h*s, w*s)``.
        pairs: from :func:`plan_outputs`.
        scale: SR factor (:func:`probe_scale`).
        tile, overlap, mode: see :func:`upscale_tensor`.
        device: where the model runs.
        progress_factory: ``tqdm``-like factory: one bar over images, one per image over its tiles.
    """
    written = []
    bar = progress_factory(total=len(pairs), desc="images", unit="img") if progress_factory else None
    try:
        for src, dst in pairs:
            lq = read_image(src)
            tiles = progress_factory(total=count_runs(model, *lq.shape[:2], tile, overlap, mode), desc=src.name,
                                     unit="tile") if progress_factory and tile is not None else None
            try:
                sr = upscale_array(model, lq, scale, tile, overlap, device, tiles, mode)
            finally:
                if tiles is not None:
                    tiles.close()
            write_image(dst, sr)
            written.append(dst)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return written
