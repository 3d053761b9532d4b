"""The one model loader of the commands that run a network (bench, infer, profile, export, pipeline).

What a file is comes from its content, never from its extension (:func:`sniff_model_file`):

* a zip archive holding ``code/`` and ``constants.pkl``: a TorchScript file (run by ``torch.jit``);
* any other zip archive, or a pickle (first byte ``0x80``): a PyTorch checkpoint, read with
  ``torch.load(..., weights_only=True)``: an srnas model file / training checkpoint (it carries ``srnas_config``, so
  it needs no ``--arch``/``--genotype``) or a foreign checkpoint (official IMDN/DLSR: give ``--arch``/``--genotype``);
* a folder: an srnas experiment (its ``models/net_best.pth``);
* a protobuf that parses as an ONNX ``ModelProto`` with a graph: an ONNX model (run by ONNX Runtime).

Anything else (empty, an image, text, a truncated file) is refused with one line naming what it is and what was
expected. Exported files carry their own architecture: ``--arch``/``--genotype`` with them is an error, not ignored.
"""
from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from torch import nn

from srnas.errors import SrnasError

Model = Callable[[torch.Tensor], torch.Tensor]
EXPECTED = "expected an srnas model file, a PyTorch checkpoint, a TorchScript file or an ONNX model"
# first bytes of files people pass by mistake, to say what the file is
_MAGIC = ((b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
          (b"BM", "a BMP image"), (b"RIFF", "a RIFF (WebP/WAV) file"), (b"\x1f\x8b", "a gzip archive"),
          (b"%PDF", "a PDF document"), (b"\x93NUMPY", "a NumPy array file"))
KINDS = ("checkpoint", "torchscript", "onnx")


@dataclass
class LoadedModel:
    """A runnable network and what it is.

    Attributes:
        model: ``(N, 3, h, w)`` float32 RGB in [0, 1] -> ``(N, 3, h*s, w*s)``; eval mode.
        scale: SR factor s (measured on the file for exported models).
        kind: ``checkpoint`` (an srnas model file or a checkpoint + ``--arch/--genotype``), ``torchscript``,
            ``onnx`` or ``architecture`` (no weights: profile only).
        runtime: what runs it: ``PyTorch``, ``TorchScript`` or ``ONNX Runtime (<provider>)``.
        path: the file (None for an architecture without weights).
        network: the eager PyTorch network when there is one (exact tiling, export, profile); None for exported files.
        config: ``srnas_config`` ({arch, scale, kwargs, genotype}) when known (exported files store it).
    """

    model: Model
    scale: int
    kind: str
    runtime: str
    path: Optional[Path]
    network: Optional[nn.Module]
    config: Optional[dict[str, Any]]

    def describe(self) -> str:
        """One line: ``<file> (<kind>), run by <runtime>``."""
        what = {"checkpoint": "PyTorch checkpoint", "torchscript": "TorchScript file", "onnx": "ONNX model",
                "architecture": "architecture, untrained"}[self.kind]
        return f"{self.path or '-'} ({what}, x{self.scale}), run by {self.runtime}"

    def architecture(self) -> Optional[nn.Module]:
        """The PyTorch network, or for an exported file with ``srnas_config`` the same architecture built untrained
        (enough to count params and MACs); None when neither is known."""
        if self.network is not None:
            return self.network
        if not self.config or "arch" not in self.config:
            return None
        from srnas.archs import create_model

        return create_model(self.config["arch"], scale=int(self.config["scale"]), genotype=self.config.get("genotype"),
                            **(self.config.get("kwargs") or {})).eval()


def _looks_like_text(head: bytes) -> bool:
    printable = set(string.printable.encode())
    return bool(head) and all(b in printable for b in head)


def _is_onnx(path: Path) -> bool:
    import onnx

    try:
        proto = onnx.load_model(str(path), load_external_data=False)
    except Exception:  # noqa: BLE001  a probe: protobuf raises DecodeError and several internal types on garbage
        return False
    return proto.ir_version > 0 and len(proto.graph.node) > 0


def sniff_model_file(path: str | Path) -> str:
    """What ``path`` holds, from its content: ``checkpoint``, ``torchscript`` or ``onnx`` (a folder: ``checkpoint``,
    an srnas experiment).

    Raises:
        SrnasError: missing, empty, or not one of those (the line says what the file looks like).
    """
    from srnas.export.torchscript import is_torchscript_file

    p = Path(path)
    if p.is_dir():
        return "checkpoint"
    if not p.exists():
        raise SrnasError(f"{p}: no such model file ({EXPECTED})")
    if not p.is_file():
        raise SrnasError(f"{p}: not a regular file ({EXPECTED})")
    size = p.stat().st_size
    if size == 0:
        raise SrnasError(f"{p}: empty file (0 bytes); {EXPECTED}")
    with open(p, "rb") as f:
        head = f.read(16)
    if head.startswith(b"PK\x03\x04"):
        return "torchscript" if is_torchscript_file(p) else "checkpoint"
    if head[:1] == b"\x80":
        return "checkpoint"  # a pickle (torch.save's legacy format)
    for magic, what in _MAGIC:
        if head.startswith(magic):
            raise SrnasError(f"{p}: is {what}, not a model; {EXPECTED}")
    if _is_onnx(p):
        return "onnx"
    if _looks_like_text(head):
        raise SrnasError(f"{p}: is a text file ({head[:12].decode(errors='replace')!r}...), not a model; {EXPECTED}")
    raise SrnasError(f"{p}: unrecognised or truncated binary file ({size} bytes, starts {head[:4].hex(' ')}); "
                     f"{EXPECTED}")


def _exported(path: Path, kind: str, device: torch.device | str) -> tuple[Model, str, Optional[dict]]:
    if kind == "onnx":
        from srnas.export.onnx import load_onnx

        model = load_onnx(path, device)
        return model, f"ONNX Runtime ({model.session.get_providers()[0]})", model.meta.get("srnas_config")
    from srnas.export.torchscript import load_torchscript, read_meta

    model = load_torchscript(path, device)
    return model, "TorchScript", read_meta(path).get("srnas_config")


def load_model(weights: str | Path | None, arch: Optional[str] = None, genotype: str | Path | None = None,
               scale: Optional[int] = None, device: torch.device | str = "cpu") -> LoadedModel:
    """Load whatever ``weights`` is (see the module docstring) as a runnable model on ``device``.

    Args:
        weights: model file, checkpoint, experiment folder, TorchScript or ONNX file; None builds the untrained
            architecture of ``arch``/``genotype`` (for profiling).
        arch, genotype: the architecture of a foreign checkpoint (official IMDN/DLSR); not allowed with exported
            files, which carry their own.
        scale: the SR factor; for files that know theirs it must match, for foreign checkpoints it defaults to 2.
        device: where the model runs.

    Raises:
        SrnasError: one line naming the file: unreadable, of another kind than expected, wrong scale, weights that do
            not fit the architecture.
    """
    from srnas.archs import create_model

    if weights is None:
        if arch is None and genotype is None:
            raise SrnasError("--arch or --genotype is required (or --weights with a model file)")
        net = create_model(arch, scale=scale or 2, genotype=genotype).eval()
        return LoadedModel(net, scale or 2, "architecture", "PyTorch", None, net, net.srnas_config)
    path = Path(weights)
    kind = sniff_model_file(path)
    if kind in ("onnx", "torchscript"):
        if arch is not None or genotype is not None:
            raise SrnasError(f"{path}: is {'an ONNX model' if kind == 'onnx' else 'a TorchScript file'}, which "
                             "carries its own architecture; --arch/--genotype apply to checkpoints only")
        from srnas.infer import probe_scale

        model, runtime, config = _exported(path, kind, device)
        got = probe_scale(model, device)
        if scale is not None and scale != got:
            raise SrnasError(f"{path}: the model upscales x{got}, not x{scale} (--scale)")
        return LoadedModel(model, got, kind, runtime, path, None, config)
    if arch is None and genotype is None:
        from srnas.train.model_file import load_model_file

        net = load_model_file(path, scale=scale)
    else:
        net = create_model(arch, scale=scale or 2, weights=path, genotype=genotype)
    net = net.to(device).eval()
    return LoadedModel(net, int(net.srnas_config["scale"]), "checkpoint", "PyTorch", path, net, net.srnas_config)


def require_network(loaded: LoadedModel, what: str) -> nn.Module:
    """``loaded.network``, or an SrnasError saying that ``what`` needs a PyTorch checkpoint, not an exported file."""
    if loaded.network is None:
        raise SrnasError(f"{loaded.path}: is {'an ONNX model' if loaded.kind == 'onnx' else 'a TorchScript file'}; "
                         f"{what} needs the PyTorch network (an srnas model file, or a checkpoint with "
                         "--arch/--genotype)")
    return loaded.network
