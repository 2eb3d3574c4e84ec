"""Base64 images from OFA's TSV files: decoding to PIL and the model's input transform."""
from __future__ import annotations

import base64
import binascii
import warnings
from io import BytesIO
from typing import Callable, Optional

import torch
from PIL import Image, UnidentifiedImageError
from torchvision import transforms

from ofa_mue.errors import DataError

# OFA normalises every channel to [-1, 1].
IMAGE_MEAN = (0.5, 0.5, 0.5)
IMAGE_STD = (0.5, 0.5, 0.5)


def decode_image(data: str, path: str, row: int, field: str = "image") -> Image.Image:
    """Decode a (URL-safe or standard) base64 cell into an RGB image.

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
                return image.convert("RGB")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise DataError(path, f"image refused as a possible decompression bomb ({error})", row, field) from None
    except UnidentifiedImageError:  # its message names a BytesIO object, not the file
        raise DataError(path, f"{len(raw)} bytes that are not a readable image (no image format Pillow reads)",
                        row, field) from None
    except (OSError, SyntaxError, ValueError) as error:
        raise DataError(path, f"{len(raw)} bytes that are not a readable image ({error})", row, field) from None


def image_transform(size: int = 480) -> Callable[[Image.Image], torch.Tensor]:
    """Bicubic resize to ``size`` x ``size``, then a [3, size, size] tensor normalised to [-1, 1]."""
    return transforms.Compose([
        transforms.Resize((size, size), interpolation=transforms.InterpolationMode.BICUBIC),
        transforms.ToTensor(),
        transforms.Normalize(mean=IMAGE_MEAN, std=IMAGE_STD),
    ])
