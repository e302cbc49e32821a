"""Builds the still-picture fixtures: pictures as people send them (JPEG in every chroma layout,
progressive, gray, CMYK; lossy WebP with and without alpha; EXIF orientations in JPEG, PNG, WebP and
TIFF), each with the pixels transformers' image loaders give for it, as a PNG:

    tools/.venv/bin/python tools/parity/make_still_fixtures.py

The oracle is Pillow (`transformers.image_utils.load_image`: `ImageOps.exif_transpose` then
`convert("RGB")`). transformers 5's torchvision image processors load paths with torchcodec's
`decode_image` instead; the script asserts that both give the same pixels for every case that
torchcodec reads (it has no TIFF reader), so one expected picture serves both. The exception is
16-bit PNG, where the two disagree (Pillow keeps the top byte, torchcodec rounds v·255/65535): there
the oracle is torchcodec, what the default (torchvision) processors load, and the manifest records
Pillow's difference. Those inputs are written with the ffmpeg CLI (Pillow writes no 48-bit RGB).

Writes Tests/Fixtures/stills/: the inputs, `<name>.expected.png` for each, a truncated JPEG, and
manifest.json (per case: file, expected, upright size, EXIF orientation, what it exercises).
"""
from __future__ import annotations

import json
import pathlib
import subprocess

import numpy as np
import torch
import torchcodec
from PIL import Image, ImageDraw, ImageOps, features
from torchcodec.decoders import ImageReadMode, decode_image

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "Tests" / "Fixtures" / "stills"


def picture(width: int, height: int, seed: int, alpha: bool = False) -> Image.Image:
    """Gradients, noise and sharp colour edges (where chroma upsampling differs most)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    arr = np.stack([255 * x / (width - 1), 255 * y / (height - 1), 127.5 + 127.5 * np.sin((x + 2 * y) / 5.0)], -1)
    arr += rng.normal(0, 12, arr.shape)
    im = Image.fromarray(arr.round().clip(0, 255).astype(np.uint8), "RGB")
    d = ImageDraw.Draw(im)
    d.rectangle([width // 7, height // 5, width // 2, height // 2], fill=(250, 20, 40))
    d.ellipse([width // 2, height // 3, width - 3, height - 2], fill=(20, 40, 230))
    d.line([(0, height - 1), (width - 1, 0)], fill=(255, 255, 0), width=2)
    # A marker in the stored top-left corner: orientation mistakes move it.
    d.rectangle([0, 0, 5, 3], fill=(0, 255, 0))
    if alpha:
        a = np.tile(np.linspace(0, 255, width).astype(np.uint8), (height, 1))
        a[: height // 4] = 0
        im = im.convert("RGBA")
        im.putalpha(Image.fromarray(a, "L"))
    return im


def exif(orientation: int) -> bytes:
    e = Image.Exif()
    e[0x0112] = orientation
    return e.tobytes()


def cases():
    base = picture(61, 37, 1)
    yield "jpeg_420", "jpeg_420.jpg", base, dict(quality=85, subsampling=2), "4:2:0 chroma (libjpeg's fancy upsampling)"
    yield "jpeg_422", "jpeg_422.jpg", base, dict(quality=85, subsampling=1), "4:2:2 chroma"
    yield "jpeg_444", "jpeg_444.jpg", base, dict(quality=85, subsampling=0), "4:4:4 (libjpeg's integer IDCT)"
    yield "jpeg_progressive", "jpeg_progressive.jpg", picture(53, 41, 2), dict(quality=80, progressive=True), "progressive 4:2:0"
    yield "jpeg_gray", "jpeg_gray.jpg", base.convert("L"), dict(quality=85), "grayscale (replicated to RGB)"
    yield "jpeg_cmyk", "jpeg_cmyk.jpg", base.convert("CMYK"), dict(quality=90), "Adobe CMYK (Pillow's CMYK to RGB)"
    yield "webp_lossy", "webp_lossy.webp", base, dict(quality=75), "lossy WebP (libwebp's fancy upsampling)"
    yield "webp_alpha", "webp_alpha.webp", picture(61, 37, 3, alpha=True), dict(quality=75), "lossy WebP with alpha (dropped)"
    for o in range(1, 9):
        yield f"jpeg_exif{o}", f"jpeg_exif{o}.jpg", picture(29, 17, 10 + o), dict(quality=90, exif=exif(o)), f"EXIF orientation {o} in JPEG APP1"
    yield "png_exif6", "png_exif6.png", picture(29, 17, 30), dict(exif=exif(6)), "EXIF orientation 6 in a PNG eXIf chunk"
    yield "webp_exif8", "webp_exif8.webp", picture(29, 17, 31), dict(lossless=True, exif=exif(8)), "EXIF orientation 8 in a WebP EXIF chunk"
    yield "tiff_orientation3", "tiff_orientation3.tiff", picture(29, 17, 32), dict(tiffinfo={274: 3}), "TIFF orientation tag 3"


def sixteen_bit_cases():
    """16-bit PNGs (RGB, RGBA, gray, gray + alpha) with random samples: the oracle is torchcodec."""
    rng = np.random.default_rng(7)
    for name, pix_fmt, channels in [("png16_rgb", "rgb48be", 3), ("png16_rgba", "rgba64be", 4),
                                    ("png16_gray", "gray16be", 1), ("png16_gray_alpha", "ya16be", 2)]:
        samples = rng.integers(0, 65536, (23, 41, channels)).astype(">u2")
        yield name, f"{name}.png", pix_fmt, samples


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.iterdir():
        old.unlink()
    entries = []
    for name, file, im, save_kwargs, what in cases():
        path = OUT / file
        im.save(path, **save_kwargs)
        loaded = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
        expected = np.asarray(loaded)
        torchcodec_same = None
        if path.suffix != ".tiff":
            tc = decode_image(str(path), mode=ImageReadMode.RGB).permute(1, 2, 0).numpy()
            assert np.array_equal(tc, expected), f"{name}: torchcodec and Pillow disagree"
            torchcodec_same = True
        loaded.save(OUT / f"{name}.expected.png")
        orientation = Image.open(path).getexif().get(0x0112, 1)
        entries.append({"name": name, "file": file, "expected": f"{name}.expected.png",
                        "width": expected.shape[1], "height": expected.shape[0],
                        "exif_orientation": orientation, "oracle": "pillow", "torchcodec_same": torchcodec_same,
                        "what": what})
    for name, file, pix_fmt, samples in sixteen_bit_cases():
        path = OUT / file
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", pix_fmt,
                        "-s", f"{samples.shape[1]}x{samples.shape[0]}", "-i", "-", "-fflags", "+bitexact",
                        "-flags", "+bitexact", str(path)], input=samples.tobytes(), check=True)
        expected = decode_image(str(path), mode=ImageReadMode.RGB).permute(1, 2, 0).numpy()
        pillow = np.asarray(Image.open(path).convert("RGB")).astype(int)
        Image.fromarray(expected, "RGB").save(OUT / f"{name}.expected.png")
        entries.append({"name": name, "file": file, "expected": f"{name}.expected.png",
                        "width": expected.shape[1], "height": expected.shape[0], "exif_orientation": 1,
                        "oracle": "torchcodec", "pillow_max_difference": int(np.abs(pillow - expected).max()),
                        "what": f"16-bit PNG ({pix_fmt}): samples rounded to 8 bits as torchcodec rounds them"})
    full = (OUT / "jpeg_420.jpg").read_bytes()
    (OUT / "jpeg_truncated.jpg").write_bytes(full[: len(full) * 2 // 3])
    manifest = {
        "oracle": "Pillow ImageOps.exif_transpose(Image.open(f)).convert('RGB') (transformers.image_utils.load_image); "
                  "torchcodec.decoders.decode_image(f, mode=RGB) asserted equal where it reads the format",
        "versions": {"pillow": Image.__version__, "libjpeg_turbo": features.version("libjpeg_turbo"),
                     "libwebp": features.version("webp"), "torchcodec": torchcodec.__version__, "torch": torch.__version__},
        "truncated": {"file": "jpeg_truncated.jpg", "pillow": "OSError: image file is truncated"},
        "cases": entries,
    }
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {len(entries)} cases to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
