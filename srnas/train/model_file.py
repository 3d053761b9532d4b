"""srnas model files: weights that carry their own architecture, so no ``--arch``/``--genotype`` is needed to use them.

A model file (``experiments/<name>/models/net_best.pth``, ``net_latest.pth``) is
``{"model": state_dict, "srnas_config": {arch, scale, kwargs, genotype}, "step": int, "psnr": float | None}``;
a training checkpoint (``checkpoints/iter_*.pth``) carries ``srnas_config`` too. Both load with
``torch.load(..., weights_only=True)`` and with :func:`srnas.archs.load_weights` (key ``model``).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn

from srnas.archs.weights import check_state_dict, extract_state_dict
from srnas.errors import SrnasError
from srnas.utils.checkpoint import load_checkpoint
from srnas.utils.files import atomic_write

log = logging.getLogger("srnas")
UPSAMPLER = "upsampler."  # the scale-dependent layers (conv to 3 * s^2 channels + PixelShuffle)


def save_model_file(path: str | Path, model: nn.Module, step: int, psnr: Optional[float] = None,
                    **extra: Any) -> Path:
    """Write ``model``'s weights with its ``srnas_config`` (atomically). ``extra``: more plain values to store."""
    state = {"model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
             "srnas_config": model.srnas_config, "step": int(step), "psnr": None if psnr is None else float(psnr),
             **extra}
    atomic_write(path, lambda f: torch.save(state, f))
    return Path(path)


def resolve_model_file(path: str | Path) -> Path:
    """``path`` itself, or for an experiment folder its ``models/net_best.pth`` (``net_latest.pth`` without
    validation)."""
    p = Path(path)
    if not p.is_dir():
        return p
    for name in ("net_best.pth", "net_latest.pth"):
        if (p / "models" / name).is_file():
            return p / "models" / name
    raise SrnasError(f"{p}: no models/net_best.pth or models/net_latest.pth in this folder (not a finished "
                     "srnas train experiment?)")


def load_model_file(path: str | Path, scale: Optional[int] = None) -> nn.Module:
    """Rebuild a network from a model file, a training checkpoint or an experiment folder (its best model).

    Args:
        path: ``models/net_*.pth``, ``checkpoints/iter_*.pth`` (its EMA weights when it has them) or the folder.
        scale: when given, the file's scale must equal it.

    Returns:
        The model on CPU in eval mode, RGB ``(N, 3, H, W)`` in [0, 1] -> ``(N, 3, H*s, W*s)``.

    Raises:
        SrnasError: unreadable file, no ``srnas_config`` (a foreign checkpoint: use --arch/--genotype), wrong scale,
            or weights that do not fit the recorded architecture.
    """
    from srnas.archs import create_model

    p = resolve_model_file(path)
    ckpt = load_checkpoint(p)
    cfg = ckpt.get("srnas_config") if isinstance(ckpt, dict) else None
    if not isinstance(cfg, dict) or "arch" not in cfg:
        raise SrnasError(f"{p}: no srnas_config in this checkpoint (not written by srnas train): give --arch or "
                         "--genotype")
    if scale is not None and int(cfg["scale"]) != int(scale):
        raise SrnasError(f"{p}: the model is x{cfg['scale']}, but scale {scale} was asked for (pass --scale "
                         f"{cfg['scale']})")
    model = create_model(cfg["arch"], scale=int(cfg["scale"]), genotype=cfg.get("genotype"), **cfg.get("kwargs", {}))
    key = "model_ema" if ckpt.get("model_ema") is not None else None  # a training checkpoint with EMA
    sd = extract_state_dict(ckpt, str(p), key)
    check_state_dict(model, sd, str(p))
    model.load_state_dict(sd, strict=True)
    return model.eval()


def load_pretrained(model: nn.Module, path: str | Path, strict: bool = True, skip_upsampler: bool = False,
                    key: Optional[str] = None) -> dict[str, list[str]]:
    """Initialize ``model`` from a checkpoint (``path.pretrain_network_g``), as BasicSR ``load_network``.

    Args:
        model: the network to train.
        path: any layout :func:`srnas.archs.load_weights` reads.
        strict: every tensor must match by name and shape; False loads those that do and logs the rest.
        skip_upsampler: keep the model's own ``upsampler.*`` (x3/x4 trained from x2 weights, DLSR's
            ``--restore_from``, brief §1.3); all other tensors must still match when ``strict``.
        key: the state_dict's key in the file (BasicSR ``param_key_g``); None: the usual lookup.

    Returns:
        ``{"loaded": [...], "skipped": [...]}`` tensor names.
    """
    sd = extract_state_dict(load_checkpoint(path), str(path), key)
    own = model.state_dict()
    skipped = [k for k in sd if skip_upsampler and k.startswith(UPSAMPLER)]
    if not strict:
        skipped += [k for k in sd if k not in skipped and (k not in own or tuple(sd[k].shape) != tuple(own[k].shape))]
    loaded = {k: v for k, v in sd.items() if k not in skipped}
    kept = {k: v for k, v in own.items() if k not in loaded}  # the model's own init
    if strict:
        check_state_dict(model, {**loaded, **{k: v for k, v in kept.items() if k.startswith(UPSAMPLER) and
                                               skip_upsampler}}, str(path))
    elif skipped or kept:
        log.warning("%s: loaded %d tensors; %d in the file do not fit the model, %d of the model keep their init "
                    "(strict_load_g: false)", path, len(loaded), len(skipped), len(kept))
    model.load_state_dict({**kept, **loaded}, strict=True)
    return {"loaded": list(loaded), "skipped": skipped}
