"""Reading and writing images as uint8 RGB ``(H, W, 3)`` arrays.

Decoding uses Pillow, except 16-bit PNGs, which OpenCV decodes at full depth (Pillow reduces 16-bit RGB PNGs to
8 bits by dropping the low byte). Both give the same pixels as the file for 8-bit PNGs (checked on all 667 PNGs of
``../shared/data``). Conversions, all documented in :func:`read_image`:

* grayscale (mode ``L``, e.g. Set14 ``bridge.png``): copied into 3 identical channels, as IMDN, EDSR and BasicSR
  load it (``deviation:`` MATLAB evaluation uses the gray values directly as Y, about -0.09 dB on Set14);
* RGBA / gray+alpha: alpha dropped (not composited);
* palette: expanded to RGB (transparency ignored);
* 16-bit: scaled to 8 bits with ``round(x / 257)``.

Everything else is refused with one :class:`SrnasError` line naming the file: a folder or missing file, an unreadable
file, 0 bytes, not an image, truncated or corrupt data, an unsupported pixel type (float, 32-bit), and images larger
than :data:`MAX_PIXELS` (checked from the header, before decoding: a decompression bomb costs nothing).
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from srnas.errors import SrnasError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485  # Pillow's decompression-bomb limit (~89.5 MP, e.g. 9459x9459)


def _png_header(head: bytes) -> tuple[int, int, int] | None:
    """``(width, height, bit depth)`` from a PNG's IHDR chunk, or None if ``head`` is not a PNG header."""
    if len(head) >= 26 and head.startswith(_PNG_SIGNATURE) and head[12:16] == b"IHDR":
        return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big"), head[24]
    return None


def _check_dimensions(width: int, height: int, path: Path) -> None:
    if width < 1 or height < 1:
        raise SrnasError(f"{path}: image has no pixels ({width}x{height})")
    if width * height > MAX_PIXELS:
        raise SrnasError(f"{path}: image is {width}x{height} ({width * height / 1e6:.0f} MP), more than the "
                         f"{MAX_PIXELS / 1e6:.1f} MP this reader accepts (decompression-bomb guard); split it first")


def _to_rgb_uint8(arr: np.ndarray, path: Path) -> np.ndarray:
    """uint8/uint16 ``(H, W)``, ``(H, W, 1|2|3|4)`` in RGB(A) order -> uint8 ``(H, W, 3)``."""
    if arr.dtype == np.uint16:
        arr = ((arr.astype(np.uint32) * 2 + 257) // 514).astype(np.uint8)  # round(x / 257), no ties possible
    elif arr.dtype != np.uint8:
        raise SrnasError(f"{path}: unsupported pixel type {arr.dtype} (expected 8- or 16-bit)")
    if arr.ndim == 3 and arr.shape[2] in (1, 2):  # gray or gray + alpha
        arr = arr[:, :, 0]
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise SrnasError(f"{path}: unsupported image layout {arr.shape}")
    return np.ascontiguousarray(arr[:, :, :3])


def _decode_cv2(data: bytes, path: Path) -> np.ndarray:
    arr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise SrnasError(f"{path}: cannot decode the image (truncated or corrupt file)")
    if arr.ndim == 3 and arr.shape[2] >= 3:
        arr = arr[:, :, [2, 1, 0] + list(range(3, arr.shape[2]))]  # BGR(A) -> RGB(A)
    return arr


def _decode_pil(path: Path) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit applies below
            im = Image.open(path)
        with im:
            _check_dimensions(*im.size, path)
            im.load()
            mode = im.mode
            if mode in ("RGB", "RGBA", "L", "LA"):
                return np.asarray(im)
            if mode in ("I;16", "I;16B", "I;16L"):
                return np.asarray(im).astype(np.uint16)
            if mode in ("P", "PA", "1", "CMYK", "YCbCr", "LAB", "HSV", "RGBX", "RGBa", "La"):
                return np.asarray(im.convert("RGB"))
            raise SrnasError(f"{path}: unsupported image mode {mode!r}")
    except UnidentifiedImageError as err:
        raise SrnasError(f"{path}: not an image file (or an unsupported format)") from err
    except Image.DecompressionBombError as err:
        raise SrnasError(f"{path}: image too large ({err})") from err
    except (OSError, SyntaxError, ValueError) as err:  # Pillow: "image file is truncated", bad CRC, broken data
        raise SrnasError(f"{path}: truncated or corrupt image ({err})") from err
    except (SrnasError, MemoryError):
        raise
    except Exception as err:  # noqa: BLE001  Pillow's plugins fail on hostile data with many types (struct.error, ...)
        raise SrnasError(f"{path}: corrupt image ({err.__class__.__name__}: {err})") from err


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as uint8 RGB.

    Conversions: grayscale -> 3 identical channels; RGBA and gray+alpha -> alpha dropped; palette -> RGB;
    16-bit -> ``round(x / 257)``. EXIF orientation is not applied (pixels as stored).

    Args:
        path: image file (PNG, JPEG, BMP, TIFF, WebP).

    Returns:
        uint8 array ``(H, W, 3)``, RGB, values 0..255.

    Raises:
        SrnasError: a folder, a missing, unreadable or empty file, not an image, truncated or corrupt data, an
            unsupported pixel format, more than :data:`MAX_PIXELS` pixels.
    """
    path = Path(path)
    if path.is_dir():
        raise SrnasError(f"{path}: is a folder, not an image file")
    if not path.is_file():
        raise SrnasError(f"{path}: no such image file" if not path.exists() else f"{path}: not a regular file")
    try:
        if path.stat().st_size == 0:
            raise SrnasError(f"{path}: empty file (0 bytes)")
        with open(path, "rb") as f:
            head = f.read(32)
        png = _png_header(head)
        if png is not None:
            _check_dimensions(png[0], png[1], path)
        data = path.read_bytes() if png is not None and png[2] == 16 else None
    except OSError as err:
        raise SrnasError(f"{path}: cannot read the file ({err.strerror or err})") from None
    if data is not None:
        arr = _decode_cv2(data, path)
    else:
        arr = _decode_pil(path)
    return _to_rgb_uint8(arr, path)


def write_image(path: str | os.PathLike, img: np.ndarray) -> None:
    """Write a uint8 RGB ``(H, W, 3)`` (or gray ``(H, W)``) image as PNG, atomically (temporary file + rename).

    Parent folders are created. The PNG is lossless: :func:`read_image` returns the same array.
    """
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise SrnasError(f"{path}: write_image writes PNG only; use a .png file name")
    if img.dtype != np.uint8 or not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 3)):
        raise SrnasError(f"{path}: expected a uint8 (H, W, 3) or (H, W) image, got {img.dtype} {img.shape}")
    bgr = img if img.ndim == 2 else np.ascontiguousarray(img[:, :, ::-1])
    ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 3])  # BasicSR extract_subimages level
    if not ok:
        raise SrnasError(f"{path}: PNG encoding failed")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(buf.tobytes())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files directly inside ``folder`` (extensions in ``IMAGE_EXTENSIONS``, any case), sorted by name.

    Hidden files (names starting with ``.``, e.g. macOS ``._0001.png``) are skipped.

    Raises:
        SrnasError: ``folder`` is missing, not a folder, or holds no image; an entry named like an image is a folder
            (or another non-file).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise SrnasError(f"{folder}: no such folder")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith("."))
    for p in files:
        if not p.is_file():  # a folder named like an image would silently shrink a benchmark or training set
            raise SrnasError(f"{p}: is {'a folder' if p.is_dir() else 'not a regular file'}, not an image file")
    if not files:
        raise SrnasError(f"{folder}: no image files ({', '.join(IMAGE_EXTENSIONS)})")
    return files
