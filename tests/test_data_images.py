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


def test_urlsafe_cells_decode_their_dash_and_underscore_characters():
    """OFA's cells are URL-safe base64: their '-' and '_' (standard base64's '+' and '/') are data,
    not characters to skip, and the picture comes back pixel for pixel."""
    import numpy as np

    pixels = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    buffer = BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    cell = base64.urlsafe_b64encode(buffer.getvalue()).decode()
    assert "-" in cell and "_" in cell
    assert np.array_equal(np.asarray(decode_image(cell, "f.tsv", 1)), pixels)


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
        # a whole header but pixel data cut short: Pillow opens it and fails only when decoding the pixels
        (lambda png: base64.urlsafe_b64encode(base64.urlsafe_b64decode(png)[:50]).decode(),
         r"not a readable image \(image file is truncated"),
        (lambda png: "  ", "empty cell"),
    ],
    ids=["corrupt-base64", "non-image-bytes", "truncated-image", "truncated-pixel-data", "empty"],
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


def test_imagenet_option_normalises_with_imagenets_mean_and_std():
    """OFA's ``--imagenet-default-mean-and-std`` normalises with timm's IMAGENET_DEFAULT_MEAN
    (0.485, 0.456, 0.406) and IMAGENET_DEFAULT_STD (0.229, 0.224, 0.225), channel by channel."""
    image = Image.new("RGB", (4, 4), (255, 128, 0))
    tensor = image_transform(4, imagenet_default_mean_and_std=True)(image)
    expected = [(255 / 255 - 0.485) / 0.229, (128 / 255 - 0.456) / 0.224, (0 / 255 - 0.406) / 0.225]
    for channel, value in enumerate(expected):
        assert torch.allclose(tensor[channel], torch.full((4, 4), value), atol=1e-5), channel


def _cell(image: Image.Image, image_format: str) -> str:
    buffer = BytesIO()
    image.save(buffer, format=image_format)
    return base64.b64encode(buffer.getvalue()).decode()


def _palette_image(mode: str) -> Image.Image:
    image = Image.new(mode, (4, 4))
    image.putpalette([0, 0, 0, 200, 30, 60] + [0] * 762)
    image.putpixel((1, 1), (1, 255) if mode == "PA" else 1)
    return image


def _with_pixel(mode: str, size, value) -> Image.Image:
    image = Image.new(mode, size)
    image.putpixel((1, 1), value)
    return image


def _with_transparent_colour(image: Image.Image) -> Image.Image:
    """``image`` with the value of its pixel (1, 1) marked transparent (a PNG tRNS chunk, as
    palette GIFs and PNGs often have): no alpha mode, only ``image.info["transparency"]``."""
    image.info["transparency"] = image.getpixel((1, 1))
    return image


# (mode Pillow reads the cell back in, the image, its format, expected RGB at (1, 1))
MODES = [
    ("1", _with_pixel("1", (4, 4), 1), "PNG", (255, 255, 255)),
    ("L", _with_pixel("L", (4, 4), 77), "PNG", (77, 77, 77)),
    ("P", _palette_image("P"), "PNG", (200, 30, 60)),
    ("RGBA", Image.new("RGBA", (4, 4), (200, 0, 0, 0)), "PNG", (255, 255, 255)),  # transparent: background
    ("RGBA", Image.new("RGBA", (4, 4), (0, 0, 200, 102)), "PNG", (153, 153, 233)),  # 40% over white
    ("CMYK", Image.new("CMYK", (4, 4), (0, 255, 0, 0)), "TIFF", (255, 0, 255)),
    ("I;16", _with_pixel("I;16", (4, 4), 65535), "PNG", (255, 255, 255)),
    ("I;16", _with_pixel("I;16", (4, 4), 32896), "PNG", (128, 128, 128)),
    ("I;16B", _with_pixel("I;16B", (4, 4), 12850), "TIFF", (50, 50, 50)),
    ("I", _with_pixel("I", (4, 4), 25700), "TIFF", (100, 100, 100)),
    ("F", _with_pixel("F", (4, 4), 0.6), "TIFF", (153, 153, 153)),
    ("LA", Image.new("LA", (4, 4), (0, 0)), "PNG", (255, 255, 255)),
    ("LA", Image.new("LA", (4, 4), (0, 255)), "PNG", (0, 0, 0)),
    ("PA", _palette_image("PA"), "TIFF", (200, 30, 60)),
    ("P", _with_transparent_colour(_palette_image("P")), "PNG", (255, 255, 255)),  # transparent: background
    ("L", _with_transparent_colour(_with_pixel("L", (4, 4), 77)), "PNG", (255, 255, 255)),
]


@pytest.mark.parametrize("mode, image, image_format, expected", MODES,
                         ids=[f"{m[0]}-{i}" for i, m in enumerate(MODES)])
def test_every_pillow_mode_becomes_the_rgb_picture_it_shows(mode, image, image_format, expected):
    cell = _cell(image, image_format)
    with Image.open(BytesIO(base64.b64decode(cell))) as read_back:
        assert read_back.mode == mode  # the cell really holds this mode
    rgb = decode_image(cell, "f.tsv", 1)
    assert rgb.mode == "RGB" and rgb.size == image.size
    assert rgb.getpixel((1, 1)) == expected


def test_unreadable_image_message_holds_no_memory_address():
    with pytest.raises(DataError) as info:
        decode_image(base64.b64encode(b"plain text, not a picture").decode(), "f.tsv", 2)
    assert " at 0x" not in str(info.value), str(info.value)


@pytest.mark.parametrize("mode, value, image_format, expected", [
    ("I;16", 32768, "PNG", 128),  # 32768 / 257 = 127.502: the nearest level, not 127
    ("F", 0.999, "TIFF", 255),  # 0.999 * 255 = 254.745
    ("I", 70000, "TIFF", 255),  # above 65535: white, not wrapped around
    ("I", -300, "TIFF", 0),  # below 0: black
    ("F", 1.5, "TIFF", 255),  # above 1.0: white, not 382 wrapped around to 126
    ("F", -0.5, "TIFF", 0),  # below 0.0: black
], ids=["16-bit-rounds", "float-rounds", "int-above-clips", "int-below-clips", "float-above-clips",
        "float-below-clips"])
def test_grey_levels_round_to_the_nearest_and_clip_to_black_and_white(mode, value, image_format, expected):
    """16-bit, 32-bit integer and floating-point grey levels become the nearest 8-bit level, and
    values outside the mode's range clip to black or white instead of wrapping around in uint8."""
    cell = _cell(_with_pixel(mode, (4, 4), value), image_format)
    with Image.open(BytesIO(base64.b64decode(cell))) as read_back:
        assert read_back.mode == mode and read_back.getpixel((1, 1)) == pytest.approx(value)
    assert decode_image(cell, "f.tsv", 1).getpixel((1, 1)) == (expected,) * 3
