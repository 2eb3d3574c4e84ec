"""Base64 images from OFA's TSV files: decoding to PIL and the model's input transform."""
from __future__ import annotations

import base64
import binascii
import re
import warnings
from io import BytesIO
from typing import Callable, Optional

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torchvision import transforms

from ofa_mue.errors import DataError

# OFA normalises every channel to [-1, 1] ...
IMAGE_MEAN = (0.5, 0.5, 0.5)
IMAGE_STD = (0.5, 0.5, 0.5)
# ... or, with its --imagenet-default-mean-and-std, with ImageNet's statistics.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

BACKGROUND = (255, 255, 255)
"""Transparent pixels are composited onto this colour (white)."""

SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")


def decode_image(data: str, path: str, row: int, field: str = "image") -> Image.Image:
    """Decode a (URL-safe or standard) base64 cell into an RGB image (:func:`to_rgb`).

    Missing ``=`` padding is tolerated, as in OFA's files. Bad base64, bytes that are not
    an image, and images over PIL's ``Image.MAX_IMAGE_PIXELS`` (decompression bombs)
    raise :class:`DataError` naming ``path``, ``row`` and ``field``.
    """
    if not data.strip():
        raise DataError(path, "empty cell, expected a base64-encoded image", row, field)
    try:
        raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    except (binascii.Error, ValueError) as error:
        raise DataError(path, f"not valid base64 ({error})", row, field) from None
    return open_image(raw, path, row, field)


def open_image(raw: bytes, path: str, row: Optional[int] = None, field: Optional[str] = None) -> Image.Image:
    """The RGB image in the bytes of an image file (PNG, JPEG, ... anything Pillow reads).

    Bytes that are not an image and images over PIL's ``Image.MAX_IMAGE_PIXELS``
    (decompression bombs) raise :class:`DataError` naming ``path`` (and ``row`` and
    ``field`` when given).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(BytesIO(raw)) as image:
                return to_rgb(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise DataError(path, f"image refused as a possible decompression bomb ({error})", row, field) from None
    except UnidentifiedImageError:  # its message names a BytesIO object, not the file
        raise DataError(path, f"{len(raw)} bytes that are not a readable image (no image format Pillow reads)",
                        row, field) from None
    except (OSError, SyntaxError, ValueError) as error:
        raise DataError(path, f"{len(raw)} bytes that are not a readable image ({_without_addresses(error)})",
                        row, field) from None


def to_rgb(image: Image.Image) -> Image.Image:
    """``image`` as the RGB picture it shows, whatever its Pillow mode.

    - 16-bit data (``I;16*``, and ``I``, as which Pillow opens 16-bit PNG and TIFF data):
      ``value / 257``, so 65535 is white (``I`` is clipped to 0..65535 first);
    - floating point (``F``): ``value * 255``, so 0.0..1.0 spans black to white (clipped);
    - alpha (``RGBA``, ``LA``, ``PA``, ``RGBa``, ``La``, or a palette or grey image with a
      transparent colour): composited onto :data:`BACKGROUND`;
    - anything else (``1``, ``L``, ``P``, ``CMYK``, ``YCbCr``, ...): Pillow's conversion.
    """
    if image.mode in SIXTEEN_BIT_MODES:
        return _grey(np.asarray(image, dtype=np.float64).clip(0, 65535) / 257)
    if image.mode == "F":
        return _grey(np.nan_to_num(np.asarray(image, dtype=np.float64)).clip(0, 1) * 255)
    if image.mode in ALPHA_MODES or "transparency" in image.info:
        background = Image.new("RGBA", image.size, BACKGROUND + (255,))
        return Image.alpha_composite(background, image.convert("RGBA")).convert("RGB")
    return image.convert("RGB")


def _grey(values: np.ndarray) -> Image.Image:
    return Image.fromarray(values.round().astype(np.uint8)).convert("RGB")  # 2-D uint8: mode L


def _without_addresses(error: Exception) -> str:
    """An error's text without the memory addresses of Python objects (``<... at 0x7f..>``)."""
    return re.sub(r"<[^<>]* at 0x[0-9a-fA-F]+>", "the image data", str(error))


def image_transform(size: int = 480,
                    imagenet_default_mean_and_std: bool = False) -> Callable[[Image.Image], torch.Tensor]:
    """Bicubic resize to ``size`` x ``size``, then a [3, size, size] tensor normalised to [-1, 1]
    (with ``imagenet_default_mean_and_std``, OFA's option: with ImageNet's mean and std)."""
    mean, std = (IMAGENET_MEAN, IMAGENET_STD) if imagenet_default_mean_and_std else (IMAGE_MEAN, IMAGE_STD)
    return transforms.Compose([
        transforms.Resize((size, size), interpolation=transforms.InterpolationMode.BICUBIC),
        transforms.ToTensor(),
        transforms.Normalize(mean=mean, std=std),
    ])
