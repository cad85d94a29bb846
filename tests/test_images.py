import io

import numpy as np
import pytest
from conftest import PHOTOS
from PIL import Image

from unpose_core import images
from unpose_core.images import ImageError, content_hash, load_rgb, probe_image


def _save(tmp_path, name, im, **kw):
    p = tmp_path / name
    im.save(p, **kw)
    return p


def test_exif_orientation_is_applied(tmp_path):
    im = Image.new("RGB", (40, 20), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    p = _save(tmp_path, "rot.jpg", im, exif=exif.tobytes())
    assert probe_image(p) == (20, 40)
    assert load_rgb(p).shape == (40, 20, 3)


@pytest.mark.parametrize("mode", ["L", "P", "LA", "RGBA", "CMYK", "I;16", "1"])
def test_any_mode_becomes_rgb_uint8(tmp_path, mode):
    base = Image.open(PHOTOS / "skimage_astronaut.png").convert("RGB").resize((64, 64))
    im = base.convert("L").convert("I;16") if mode == "I;16" else base.convert(mode)
    ext = "jpg" if mode == "CMYK" else "png"
    arr = load_rgb(_save(tmp_path, f"x.{ext}", im))
    assert arr.dtype == np.uint8 and arr.shape == (64, 64, 3)


def test_transparent_pixels_become_white(tmp_path):
    im = Image.new("RGBA", (16, 16), (0, 0, 0, 0))
    arr = load_rgb(_save(tmp_path, "t.png", im))
    assert (arr == 255).all()


def test_bad_files_raise_image_error(tmp_path):
    txt = tmp_path / "notes.jpg"
    txt.write_text("not an image")
    with pytest.raises(ImageError, match="not a readable image"):
        load_rgb(txt)
    with pytest.raises(ImageError, match="not found"):
        probe_image(tmp_path / "nope.png")
    trunc = tmp_path / "trunc.jpg"
    buf = io.BytesIO()
    Image.open(PHOTOS / "coco_000000000785.jpg").save(buf, "JPEG")
    trunc.write_bytes(buf.getvalue()[:300])
    with pytest.raises(ImageError):
        load_rgb(trunc)


def test_pixel_budget_refuses_huge_images(tmp_path, monkeypatch):
    p = _save(tmp_path, "big.png", Image.new("RGB", (300, 300)))
    monkeypatch.setattr(images, "MAX_PIXELS", 10_000)
    with pytest.raises(ImageError, match="too large"):
        probe_image(p)


def test_large_images_are_downscaled_for_the_model(tmp_path):
    p = _save(tmp_path, "wide.png", Image.new("RGB", (3000, 1000), (10, 20, 30)))
    assert max(load_rgb(p).shape[:2]) == images.MAX_SIDE_FOR_MODEL


def test_content_hash_depends_on_bytes_only(tmp_path):
    a = PHOTOS / "skimage_brick.png"
    b = tmp_path / "renamed.png"
    b.write_bytes(a.read_bytes())
    assert content_hash(a) == content_hash(b)
    assert content_hash(a) != content_hash(PHOTOS / "skimage_grass.png")
