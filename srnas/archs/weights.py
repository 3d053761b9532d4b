"""Official weight files (a timm ``PretrainedCfg``-like table) and the one weight loader of srnas.

:func:`load_weights` reads a checkpoint with :func:`srnas.utils.checkpoint.load_checkpoint` (``weights_only=True``,
never executes pickled code), accepts the layouts of the references and of srnas itself, strips DataParallel's
``module.`` and loads strictly; any mismatch is one line naming the file. The IMDN and DLSR layer names equal srnas', so no remapping is needed.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

import torch
from torch import nn

from srnas.errors import SrnasError
from srnas.utils.checkpoint import load_checkpoint

# Dict keys under which checkpoints keep their state_dict, in lookup order: srnas' own training checkpoints
# ('model'), DLSR / many PyTorch scripts ('state_dict'), BasicSR ('params_ema' preferred over 'params', as BasicSR
# test options usually set param_key_g: params_ema).
STATE_DICT_KEYS = ("model", "state_dict", "params_ema", "params")


@dataclass(frozen=True)
class WeightCfg:
    """One official weight file. ``file`` is its name under ``../shared/weights/<arch>/`` where copied there."""

    arch: str
    scale: int
    file: str
    sha256: str
    num_params: int
    source: str  # repository @ commit, path in it
    url: str
    genotype: Optional[str] = None  # options/genotypes/<name>.json describing it (DLSR)
    notes: str = ""


_IMDN_REPO, _IMDN_COMMIT = "Zheng222/IMDN", "8f158e6a5ac9db6e5857d9159fd4a6c4214da574"
_DLSR_REPO, _DLSR_COMMIT = "DawnHH/DLSR-PyTorch", "3ea0d846f04895fb260ba419c94d6582bc7d7f0b"


def _src(repo: str, commit: str, path: str) -> tuple[str, str]:
    return f"{repo} @ {commit}, {path}", f"https://github.com/{repo}/raw/{commit}/{path}"


# brief §7 and ../shared/weights/README.md (sizes, hashes, parameter counts)
OFFICIAL_WEIGHTS: dict[str, WeightCfg] = {
    "imdn.x2": WeightCfg("imdn", 2, "IMDN_x2.pth", "740b39653592bd3f49955a21cd9e16f2d37f2c413368cc09327601b8fbe42ce1",
                         694_404, *_src(_IMDN_REPO, _IMDN_COMMIT, "checkpoints/IMDN_x2.pth"), genotype="imdn",
                         notes="bare state_dict with 'module.' prefix; RGB in [0, 1]"),
    "imdn.x3": WeightCfg("imdn", 3, "IMDN_x3.pth", "11b1716a19bc16e5e353e1db798d476169338e631eb170c82d765559888cb028",
                         703_059, *_src(_IMDN_REPO, _IMDN_COMMIT, "checkpoints/IMDN_x3.pth"), genotype="imdn"),
    "imdn.x4": WeightCfg("imdn", 4, "IMDN_x4.pth", "e660c38221147217a136debeb99eb304d62d9c0f73ac421ed66281b619719714",
                         715_176, *_src(_IMDN_REPO, _IMDN_COMMIT, "checkpoints/IMDN_x4.pth"), genotype="imdn"),
    "dlsr.x2": WeightCfg("dlsr", 2, "DLSR_x2.pt", "d2d9253e8ab69ad3d681244b8673353538d2ed5a024c9a5a273cecb8b7a00ecb",
                         322_620, *_src(_DLSR_REPO, _DLSR_COMMIT, "checkpoints/RFDN_beta21_ps128_20210128_1000.pt"),
                         genotype="dlsr_x2_released", notes="{epoch 912, state_dict, optimizer}; network in [0, 255]"),
    "dlsr.para_loss_x2": WeightCfg(
        "dlsr", 2, "RFDN_beta1_para_loss.pt", "5966582411f3dd016ff9bdd6012cfdf60aea45519e50d62c0f4fa4c6bca8deb8",
        327_804, *_src(_DLSR_REPO, _DLSR_COMMIT, "checkpoints/RFDN_beta1_para_loss.pt"), genotype="dlsr_para_loss",
        notes="not copied to ../shared"),
    "dlsr.tiny18_x2": WeightCfg(
        "dlsr", 2, "RFDN_beta21_tiny18_ps128_20210306_lr4_700.pt",
        "d08440aea6686aef995b08118c87801df1e231f66ffb97209f1d4e43ebdbdcd1", 56_268,
        *_src(_DLSR_REPO, _DLSR_COMMIT, "checkpoints/RFDN_beta21_tiny18_ps128_20210306_lr4_700.pt"),
        genotype="dlsr_tiny18", notes="not copied to ../shared"),
}


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def extract_state_dict(ckpt: Any, source: str = "checkpoint", key: Optional[str] = None) -> dict[str, torch.Tensor]:
    """The state_dict inside ``ckpt`` (bare, or under ``key`` / the first of ``STATE_DICT_KEYS``), ``module.``
    stripped."""
    if not isinstance(ckpt, Mapping):
        raise SrnasError(f"{source}: expected a state_dict or a dict holding one, got {type(ckpt).__name__}")
    if key is not None:
        if key not in ckpt:
            raise SrnasError(f"{source}: no key {key!r} (keys: {', '.join(map(str, list(ckpt)[:8]))})")
        sd = ckpt[key]
    elif ckpt and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
        sd = ckpt
    else:
        found = [k for k in STATE_DICT_KEYS if k in ckpt]
        if not found:
            raise SrnasError(f"{source}: no state_dict found (looked for a bare state_dict or the keys "
                             f"{', '.join(STATE_DICT_KEYS)}; keys: {', '.join(map(str, list(ckpt)[:8]))})")
        sd = ckpt[found[0]]
    if not isinstance(sd, Mapping) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise SrnasError(f"{source}: the state_dict holds values that are not tensors")
    if sd and all(k.startswith("module.") for k in sd):  # saved from DataParallel (IMDN's files)
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return dict(sd)


def _arch_name(model: nn.Module) -> str:
    return getattr(model, "srnas_config", {}).get("arch") or type(model).__name__.lower()


def _examples(keys: list[str], n: int = 2) -> str:
    return ", ".join(keys[:n]) + (", ..." if len(keys) > n else "")


def check_state_dict(model: nn.Module, sd: Mapping[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Raise a one-line SrnasError when ``sd`` does not fit ``model`` exactly (keys and shapes)."""
    own = model.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    shapes = [k for k in own if k in sd and tuple(sd[k].shape) != tuple(own[k].shape)]
    if not (missing or unexpected or shapes):
        return
    up = "upsampler.0.weight"
    scale = getattr(model, "upscale", None)
    if not (missing or unexpected) and up in shapes and set(shapes) <= {up, "upsampler.0.bias"} and scale:
        n_ck, n_own = sd[up].shape[0], own[up].shape[0]
        out_ch = n_own // scale ** 2
        s_ck = round((n_ck / out_ch) ** 0.5)
        what = f"scale {s_ck}" if s_ck ** 2 * out_ch == n_ck else "another scale"
        raise SrnasError(f"{source}: checkpoint is for {what} ({up} has {n_ck} outputs), model is scale {scale}")
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing keys (e.g. {_examples(missing)})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected keys (e.g. {_examples(unexpected)})")
    if shapes:
        k = shapes[0]
        parts.append(f"{len(shapes)} shape mismatches (e.g. {k}: checkpoint {tuple(sd[k].shape)}, "
                     f"model {tuple(own[k].shape)})")
    raise SrnasError(f"{source}: does not match arch {_arch_name(model)}: {', '.join(parts)}")


def load_weights(model: nn.Module, path: str | Path, key: Optional[str] = None) -> nn.Module:
    """Load a checkpoint into ``model`` strictly and return the model.

    Args:
        model: the network (its keys and shapes must match exactly).
        path: a bare state_dict, ``{'state_dict': ...}`` (DLSR), ``{'params': ...}`` / ``{'params_ema': ...}``
            (BasicSR) or an srnas training checkpoint ``{'model': ...}``; ``module.`` prefixes are stripped.
        key: take the state_dict from this key instead of the lookup order ``STATE_DICT_KEYS``.

    Raises:
        SrnasError: missing/unreadable file, a pickle needing code execution, or a checkpoint for another
            arch/scale (one line, naming the file).
    """
    sd = extract_state_dict(load_checkpoint(path), str(path), key)
    check_state_dict(model, sd, str(path))
    model.load_state_dict(sd, strict=True)
    return model
