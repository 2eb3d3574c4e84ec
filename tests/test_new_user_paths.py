"""What a new user reaches for first: ``predict`` on a folder of their own pictures."""
from __future__ import annotations

from io import BytesIO

from PIL import Image

from ofa_mue import predict


def _picture(image_format: str, **options) -> bytes:
    buffer = BytesIO()
    Image.new("RGB", (8, 8), (10, 20, 30)).save(buffer, format=image_format, **options)
    return buffer.getvalue()


def test_a_folder_lists_the_pictures_pillow_opens_not_the_files_it_only_writes(tmp_path):
    """Pillow registers ``.pdf`` (and ``.palm``) for writing only: a PDF beside the photos of a
    folder was listed as a picture, and the whole run stopped on it ("not a readable image").
    A multi-picture JPEG (``.mpo``), which Pillow opens through its JPEG plugin, stays listed."""
    folder = tmp_path / "holiday"
    folder.mkdir()
    (folder / "beach.jpg").write_bytes(_picture("JPEG"))
    (folder / "stereo.mpo").write_bytes(_picture("MPO", save_all=True, append_images=[Image.new("RGB", (8, 8))]))
    (folder / "tickets.pdf").write_bytes(_picture("PDF"))
    (folder / "icon.palm").write_bytes(b"\0" * 16)
    assert predict.image_files([str(folder)]) == [folder / "beach.jpg", folder / "stereo.mpo"]
    for name in ("beach.jpg", "stereo.mpo"):
        predict.read_picture(folder / name)  # both open


def test_the_files_a_folder_leaves_out_are_named_in_a_warning(tmp_path, caplog):
    """A phone's ``.heic`` photos (no Pillow reader) are not captioned: the run says which files it
    left out instead of skipping them silently."""
    folder = tmp_path / "phone"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(_picture("JPEG"))
    (folder / "IMG_0001.HEIC").write_bytes(b"\0" * 16)
    (folder / "notes.txt").write_text("not a picture")
    with caplog.at_level("WARNING", logger=predict.logger.name):
        assert predict.image_files([str(folder)]) == [folder / "a.jpg"]
    assert "2 file(s) without the extension of an image format Pillow opens are left out: IMG_0001.HEIC, notes.txt" \
        in caplog.text
