"""Base64 image decoding, its errors, and the patch-image transform."""
import base64
from io import BytesIO

import pytest
import torch
from PIL import Image

from ofa_mue.data.images import decode_image, image_transform
from ofa_mue.errors import DataError


@pytest.mark.parametrize("urlsafe", [True, False])
@pytest.mark.parametrize("padded", [True, False])
def test_decodes_png_with_or_without_padding(image_b64, urlsafe, padded):
    image = decode_image(image_b64(8, 6, (10, 20, 30), urlsafe=urlsafe, padded=padded), "f.tsv", 1)
    assert image.mode == "RGB" and image.size == (8, 6)
    assert image.getpixel((0, 0)) == (10, 20, 30)


def test_converts_other_modes_to_rgb():
    buffer = BytesIO()
    Image.new("L", (4, 4), 128).save(buffer, format="PNG")
    image = decode_image(base64.b64encode(buffer.getvalue()).decode(), "f.tsv", 1)
    assert image.mode == "RGB" and image.getpixel((1, 1)) == (128, 128, 128)


@pytest.mark.parametrize(
    "make_cell, message",
    [
        (lambda png: "abcde", "not valid base64"),
        (lambda png: base64.b64encode(b"plain text, not a picture").decode(), "not a readable image"),
        (lambda png: png[:40], "not a readable image"),
        (lambda png: "  ", "empty cell"),
    ],
    ids=["corrupt-base64", "non-image-bytes", "truncated-image", "empty"],
)
def test_bad_cells_name_file_row_and_field(image_b64, make_cell, message):
    with pytest.raises(DataError, match=message) as info:
        decode_image(make_cell(image_b64()), "data/test.tsv", 7)
    assert (info.value.path, info.value.row, info.value.field) == ("data/test.tsv", 7, "image")
    assert str(info.value).startswith("data/test.tsv, row 7, field 'image': ")


@pytest.mark.parametrize("side", [12, 20], ids=["over-limit-warning", "over-twice-limit-error"])
def test_decompression_bomb_becomes_data_error(image_b64, monkeypatch, side):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(DataError, match="decompression bomb") as info:
        decode_image(image_b64(side, side), "big.tsv", 3)
    assert (info.value.row, info.value.field) == (3, "image")


def test_transform_resizes_bicubic_and_normalises():
    image = Image.new("RGB", (7, 5))
    image.putpixel((0, 0), (255, 0, 128))
    tensor = image_transform(16)(image)
    assert tensor.shape == (3, 16, 16) and tensor.dtype == torch.float32
    expected = torch.tensor(list(image.resize((16, 16), Image.BICUBIC).getdata()), dtype=torch.float32)
    expected = (expected / 255 - 0.5) / 0.5
    assert torch.allclose(tensor.permute(1, 2, 0).reshape(-1, 3), expected, atol=1e-6)
    assert image_transform()(image).shape == (3, 480, 480)
