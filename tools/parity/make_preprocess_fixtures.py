#!/usr/bin/env python3
"""Generate the image-preprocessing parity fixtures in Tests/Fixtures/preprocess/.

Usage (from anywhere):
    python3 -m venv tools/.venv && tools/.venv/bin/pip install -r tools/requirements.txt
    tools/.venv/bin/python tools/parity/make_preprocess_fixtures.py [--out DIR]

Needs the pinned Pillow + numpy from tools/requirements.txt. Every file is rebuilt from scratch and
the output is deterministic (no RNG library: the noise is an integer hash), so re-running with the
same pins gives identical bytes.

What it writes
--------------
* input_<W>x<H>.rgb          - the test pictures, raw interleaved RGB, rows top to bottom.
* <case>.rgb                 - Pillow's `Image.resize(...)` output for each resize case (raw RGB),
                               or resize + transformers-style centre crop for the CLIP-like cases.
                               `pass_orders` in cases.json lists the Swift `ResamplePassOrder`s
                               (i.e. the Pillow releases) whose output this is.
* <config>.json              - two preprocessor_config.json files (BLIP-like, CLIP-like).
* <config>.f32.bin           - the [T, 3, H, W] pixel_values those configs give for the inputs,
                               little-endian float32.
* cases.json                 - describes all of the above (sizes, filters, files, oracle used).

The oracle is Pillow for every byte and numpy for the floats, doing what transformers' PIL backend
does: rescale = float64 multiply then cast to float32; normalize = float32 (x - mean) / std. If
transformers is importable (it is not pinned here), the script also runs transformers'
BlipImageProcessorPil / CLIPImageProcessorPil and its image_transforms on the same inputs and
asserts they produce the very same arrays; cases.json records whether that cross-check ran.

Pass order and Pillow versions
------------------------------
Pillow clamps to bytes between its horizontal and vertical passes, so the pass order changes
bytes, and it changed across releases: <= 12.1 always horizontal first; 12.2-12.3 vertical first
when inH > inW * 100 and the height shrinks (a branch in Image.resize); >= 13.0 vertical first when
inH - outH > 0 and inH - outH > (inW - outW) * 2 (Resample.c). The pinned Pillow 13 produces the
other orders' bytes with two single-axis calls: resize((outW, inH)) then resize((outW, outH)) is
horizontal-first, resize((inW, outH)) then resize((outW, outH)) is vertical-first. (Checked against
real Pillow 10.4 / 12.1 / 12.3 one-step resizes on hundreds of random cases: identical.)
"""

import argparse
import json
import os
import shutil
import sys

import numpy as np
import PIL
from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_OUT = os.path.join(REPO, "Tests", "Fixtures", "preprocess")

FILTERS = {  # name -> PIL code (PIL.Image.Resampling)
    "nearest": Image.Resampling.NEAREST,   # 0
    "lanczos": Image.Resampling.LANCZOS,   # 1
    "bilinear": Image.Resampling.BILINEAR,  # 2
    "bicubic": Image.Resampling.BICUBIC,   # 3
    "box": Image.Resampling.BOX,           # 4
    "hamming": Image.Resampling.HAMMING,   # 5
}

OPENAI_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


# ---------------------------------------------------------------------------------------------
# Test pictures
# ---------------------------------------------------------------------------------------------

def hash_noise(h, w, salt):
    """Deterministic uint8 noise from an integer hash of (x, y, salt) (lowbias32-style mixer)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.uint32)
    v = x * np.uint32(0x9E3779B1) ^ (y * np.uint32(0x85EBCA77)) ^ np.uint32(salt * 0xC2B2AE3D & 0xFFFFFFFF)
    v ^= v >> np.uint32(16)
    v *= np.uint32(0x7FEB352D)
    v ^= v >> np.uint32(15)
    v *= np.uint32(0x846CA68B)
    v ^= v >> np.uint32(16)
    return (v & np.uint32(0xFF)).astype(np.uint8)


def make_picture(w, h, salt):
    """Gradients + noise + hard edges: smooth areas, high frequencies, and 0/255 plateaus next to
    each other so the negative lobes of bicubic/lanczos overshoot and the clipping is exercised."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 255.0 * x / max(w - 1, 1)
    g = 255.0 * y / max(h - 1, 1)
    b = 127.5 + 127.5 * np.sin((x + 2 * y) * 2 * np.pi / max(w / 3.0, 4.0))
    img = np.stack([r, g, b], axis=-1)
    noise = np.stack([hash_noise(h, w, salt + c) for c in range(3)], axis=-1).astype(np.float64)
    img = 0.75 * img + 0.25 * noise
    img = np.clip(np.floor(img), 0, 255).astype(np.uint8)

    # Hard-edged checkerboard in the top-right quarter (black/white, period 2..8 px).
    cell = max(1, min(w, h) // 24)
    qy, qx = slice(0, h // 2), slice(w // 2, w)
    cy, cx = np.mgrid[qy, qx]
    board = (((cx // cell) + (cy // cell)) % 2 == 0)
    img[qy, qx][board] = 255
    img[qy, qx][~board] = 0
    # A saturated red disc with a hard edge, bottom-left.
    dy, dx = np.mgrid[0:h, 0:w]
    rad = min(w, h) / 5.0
    disc = (dx - w / 4.0) ** 2 + (dy - 3 * h / 4.0) ** 2 <= rad ** 2
    img[disc] = (255, 0, 0)
    # One-pixel white lines (a row and a column) and a black diagonal.
    img[h // 3, :, :] = 255
    img[:, (2 * w) // 3, :] = 255
    for i in range(min(w, h)):
        img[i, i, :] = 0
    return img


# ---------------------------------------------------------------------------------------------
# transformers' maths, written out (the oracle when transformers is not installed)
# ---------------------------------------------------------------------------------------------

def shortest_edge_size(w, h, s):
    """transformers.image_transforms.get_resize_output_image_size(default_to_square=False),
    returned as (width, height)."""
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = s, int(s * long / short)
    return (new_short, new_long) if w <= h else (new_long, new_short)


def center_crop(arr, crop_w, crop_h):
    """transformers.image_transforms.center_crop on an HWC array, including its zero padding."""
    h, w = arr.shape[:2]
    top, left = (h - crop_h) // 2, (w - crop_w) // 2
    if top >= 0 and left >= 0 and top + crop_h <= h and left + crop_w <= w:
        return arr[top:top + crop_h, left:left + crop_w]
    nh, nw = max(crop_h, h), max(crop_w, w)
    out = np.zeros((nh, nw) + arr.shape[2:], dtype=arr.dtype)
    tp, lp = -(-(nh - h) // 2), -(-(nw - w) // 2)  # ceil
    out[tp:tp + h, lp:lp + w] = arr
    top += tp
    left += lp
    return out[max(0, top):min(nh, top + crop_h), max(0, left):min(nw, left + crop_w)]


def pil_resize(arr, w, h, filt):
    # Exactly the call transformers makes: no box, no reducing_gap.
    return np.asarray(Image.fromarray(arr, mode="RGB").resize((w, h), resample=filt))


def two_passes(iw, ih, w, h, filt):
    """Whether the resize runs both convolution passes (only then does the order matter)."""
    return filt != Image.Resampling.NEAREST and w != iw and h != ih


def pil_resize_as(arr, w, h, filt, order):
    """Pillow's output as the Pillow release with pass order `order` makes it (see the docstring)."""
    ih, iw = arr.shape[:2]
    vfirst = PASS_ORDERS[order](iw, ih, w, h)
    if not two_passes(iw, ih, w, h, filt) or vfirst == PASS_ORDERS["pillow13"](iw, ih, w, h):
        return pil_resize(arr, w, h, filt)
    if vfirst:
        return pil_resize(pil_resize(arr, iw, h, filt), w, h, filt)
    return pil_resize(pil_resize(arr, w, ih, filt), w, h, filt)


def valid_orders(iw, ih, w, h, filt, order):
    """The pass orders (Pillow releases) that give the same bytes as `order` for this resize."""
    if not two_passes(iw, ih, w, h, filt):
        return list(PASS_ORDERS)
    mine = PASS_ORDERS[order](iw, ih, w, h)
    return [o for o, rule in PASS_ORDERS.items() if rule(iw, ih, w, h) == mine]


def tensor_numpy(frames, cfg, family_defaults):
    """pixel_values for `frames` (HWC uint8) under a preprocessor_config dict, numpy-only."""
    c = dict(family_defaults)
    c.update({k: v for k, v in cfg.items() if v is not None})
    out = []
    for arr in frames:
        x = arr
        if c["do_resize"]:
            size = c["size"]
            if isinstance(size, int):
                size = {"height": size, "width": size} if c["default_to_square"] else {"shortest_edge": size}
            if "shortest_edge" in size:
                w, h = shortest_edge_size(x.shape[1], x.shape[0], size["shortest_edge"])
            else:
                w, h = size["width"], size["height"]
            x = pil_resize(x, w, h, c["resample"])
        if c.get("do_center_crop"):
            crop = c["crop_size"]
            if isinstance(crop, int):
                crop = {"height": crop, "width": crop}
            x = center_crop(x, crop["width"], crop["height"])
        x = np.moveaxis(x, -1, 0)  # CHW, as the PIL backend works
        if c["do_rescale"]:
            x = (x.astype(np.float64) * c["rescale_factor"]).astype(np.float32)
        if c["do_normalize"]:
            if not np.issubdtype(x.dtype, np.floating):
                x = x.astype(np.float32)
            mean = np.array(c["image_mean"], dtype=x.dtype)
            std = np.array(c["image_std"], dtype=x.dtype)
            x = ((x.T - mean) / std).T
        out.append(x)
    return np.stack(out).astype(np.float32)


# Class attributes of transformers 5.23.0's BlipImageProcessorPil / CLIPImageProcessorPil: what an
# absent field means. (The Swift PreprocessConfig.Family mirrors these.)
BLIP_DEFAULTS = dict(do_resize=True, size={"height": 384, "width": 384}, resample=3, do_center_crop=False,
                     crop_size=None, do_rescale=True, rescale_factor=1 / 255, do_normalize=True,
                     image_mean=OPENAI_CLIP_MEAN, image_std=OPENAI_CLIP_STD, default_to_square=True)
CLIP_DEFAULTS = dict(do_resize=True, size={"shortest_edge": 224}, resample=3, do_center_crop=True,
                     crop_size={"height": 224, "width": 224}, do_rescale=True, rescale_factor=1 / 255,
                     do_normalize=True, image_mean=OPENAI_CLIP_MEAN, image_std=OPENAI_CLIP_STD,
                     default_to_square=False)


def try_transformers():
    try:
        import transformers  # noqa: F401
        from transformers import BlipImageProcessorPil, CLIPImageProcessorPil
        from transformers import image_transforms
    except Exception:  # not installed, or an incompatible version
        return None
    return transformers, BlipImageProcessorPil, CLIPImageProcessorPil, image_transforms


# ---------------------------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------------------------

INPUTS = {  # name -> (width, height, noise salt)
    "frame_640x360": (640, 360, 1),    # a typical decoded video frame
    "odd_97x61": (97, 61, 2),          # small, odd, non-square
    "portrait_45x80": (45, 80, 3),     # portrait (the w <= h branch of shortest-edge sizing)
    "tall_2x250": (2, 250, 4),         # taller than 100x its width (Pillow 12.2's vertical-first rule)
}

# Swift ResamplePassOrder raw values, and when each runs the vertical pass first.
PASS_ORDERS = {
    "pillow13": lambda iw, ih, ow, oh: (ih - oh) > 0 and (ih - oh) > (iw - ow) * 2,
    "pillow12_2": lambda iw, ih, ow, oh: ih > iw * 100 and oh < ih,
    "horizontalFirst": lambda iw, ih, ow, oh: False,
}

# (name, input, filter, width, height[, pass order]). The pass order defaults to the pinned
# Pillow's (pillow13); "vfirst"/"hfirst" name the cases where the orders disagree.
RESIZE_CASES = [
    ("frame_640x360_to_224x224_bicubic", "frame_640x360", "bicubic", 224, 224),
    ("frame_640x360_to_113x67_bicubic", "frame_640x360", "bicubic", 113, 67),
    ("frame_640x360_to_113x67_bilinear", "frame_640x360", "bilinear", 113, 67),
    ("frame_640x360_to_113x67_nearest", "frame_640x360", "nearest", 113, 67),
    ("frame_640x360_to_600x8_bilinear_vfirst", "frame_640x360", "bilinear", 600, 8),
    ("odd_97x61_to_160x100_bicubic_up", "odd_97x61", "bicubic", 160, 100),
    ("odd_97x61_to_160x100_bilinear_up", "odd_97x61", "bilinear", 160, 100),
    ("odd_97x61_to_128x80_nearest_up", "odd_97x61", "nearest", 128, 80),
    ("odd_97x61_to_61x97_bicubic_aspect", "odd_97x61", "bicubic", 61, 97),
    ("odd_97x61_to_90x20_bicubic_vfirst", "odd_97x61", "bicubic", 90, 20),
    ("odd_97x61_to_90x20_bicubic_hfirst", "odd_97x61", "bicubic", 90, 20, "horizontalFirst"),
    ("tall_2x250_to_5x40_bicubic_vfirst", "tall_2x250", "bicubic", 5, 40),
    ("tall_2x250_to_5x40_bicubic_hfirst", "tall_2x250", "bicubic", 5, 40, "horizontalFirst"),
    ("odd_97x61_to_97x30_bicubic_vertical_only", "odd_97x61", "bicubic", 97, 30),
    ("odd_97x61_to_50x61_bilinear_horizontal_only", "odd_97x61", "bilinear", 50, 61),
    ("odd_97x61_to_40x30_box", "odd_97x61", "box", 40, 30),
    ("odd_97x61_to_40x30_hamming", "odd_97x61", "hamming", 40, 30),
    ("odd_97x61_to_40x30_lanczos", "odd_97x61", "lanczos", 40, 30),
    ("portrait_45x80_to_17x31_nearest", "portrait_45x80", "nearest", 17, 31),
]

# (name, input, filter, shortest_edge, crop_width, crop_height): CLIPImageProcessor's
# resize(shortest_edge) + center_crop, uint8 result.
SHORTEST_EDGE_CROP_CASES = [
    ("frame_640x360_clip_se224_crop224_bicubic", "frame_640x360", "bicubic", 224, 224, 224),
    ("odd_97x61_se100_crop96_bicubic", "odd_97x61", "bicubic", 100, 96, 96),
    ("portrait_45x80_se64_crop64_bilinear", "portrait_45x80", "bilinear", 64, 64, 64),
    # crop taller than the resized image: transformers zero-pads the height, crops the width.
    ("odd_97x61_se50_crop57x64_bicubic_padded", "odd_97x61", "bicubic", 50, 57, 64),
]

# Full configs -> [T, 3, H, W] float32, T = the three inputs. Sizes are reduced from the real
# models' (BLIP 384, CLIP 224) to keep the fixtures small; the 224 paths are covered byte-exactly
# above. The CLIP-like file is in the old CLIPFeatureExtractor format (int size/crop_size, no
# do_rescale/rescale_factor) so that decoding it exercises transformers' defaults.
TENSOR_CASES = [
    ("blip_like", "BLIP", {
        "do_convert_rgb": True,
        "do_normalize": True,
        "do_rescale": True,
        "do_resize": True,
        "image_mean": OPENAI_CLIP_MEAN,
        "image_processor_type": "BlipImageProcessor",
        "image_std": OPENAI_CLIP_STD,
        "resample": 3,
        "rescale_factor": 0.00392156862745098,
        "size": {"height": 44, "width": 44},
    }),
    ("clip_like", "CLIP", {
        "crop_size": 40,
        "do_center_crop": True,
        "do_normalize": True,
        "do_resize": True,
        "feature_extractor_type": "CLIPFeatureExtractor",
        "image_mean": OPENAI_CLIP_MEAN,
        "image_std": OPENAI_CLIP_STD,
        "resample": 3,
        "size": 48,
    }),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT)
    args = ap.parse_args()

    out = args.out
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out)

    tf = try_transformers()
    manifest = {
        "generator": "tools/parity/make_preprocess_fixtures.py",
        "pillow": PIL.__version__,
        "numpy": np.__version__,
        "transformers_cross_check": tf[0].__version__ if tf else None,
        "layout": "raw interleaved RGB uint8, rows top to bottom; tensors little-endian float32 row-major",
        "inputs": {},
        "resize_cases": [],
        "tensor_cases": [],
    }

    pictures = {}
    for name, (w, h, salt) in INPUTS.items():
        arr = make_picture(w, h, salt)
        pictures[name] = arr
        fname = f"input_{w}x{h}.rgb"
        arr.tofile(os.path.join(out, fname))
        manifest["inputs"][name] = {"file": fname, "width": w, "height": h}

    for name, src, filt, w, h, *rest in RESIZE_CASES:
        order = rest[0] if rest else "pillow13"
        ih, iw = pictures[src].shape[:2]
        res = pil_resize_as(pictures[src], w, h, FILTERS[filt], order)
        assert res.shape == (h, w, 3)
        if tf and order == "pillow13":
            ref = tf[3].resize(pictures[src], (h, w), resample=FILTERS[filt])
            assert np.array_equal(ref, res), name
        res.tofile(os.path.join(out, name + ".rgb"))
        manifest["resize_cases"].append({
            "name": name, "op": "resize", "input": src, "filter": filt, "resample": int(FILTERS[filt]),
            "width": w, "height": h, "output": name + ".rgb", "output_width": w, "output_height": h,
            "pass_orders": valid_orders(iw, ih, w, h, FILTERS[filt], order),
        })

    for name, src, filt, se, cw, ch in SHORTEST_EDGE_CROP_CASES:
        arr = pictures[src]
        rw, rh = shortest_edge_size(arr.shape[1], arr.shape[0], se)
        resized = pil_resize(arr, rw, rh, FILTERS[filt])
        res = center_crop(resized, cw, ch)
        assert res.shape == (ch, cw, 3)
        if tf:
            it = tf[3]
            size = it.get_resize_output_image_size(arr, se, default_to_square=False)
            assert tuple(size) == (rh, rw), (name, size)
            ref = it.center_crop(it.resize(arr, size, resample=FILTERS[filt]), (ch, cw))
            assert np.array_equal(ref, res), name
        res = np.ascontiguousarray(res)
        res.tofile(os.path.join(out, name + ".rgb"))
        manifest["resize_cases"].append({
            "name": name, "op": "shortest_edge_center_crop", "input": src, "filter": filt,
            "resample": int(FILTERS[filt]), "shortest_edge": se, "resized_width": rw, "resized_height": rh,
            "crop_width": cw, "crop_height": ch, "output": name + ".rgb", "output_width": cw, "output_height": ch,
            "pass_orders": valid_orders(arr.shape[1], arr.shape[0], rw, rh, FILTERS[filt], "pillow13"),
        })

    frame_names = ["frame_640x360", "odd_97x61", "portrait_45x80"]
    frames = [pictures[n] for n in frame_names]
    for name, family, cfg in TENSOR_CASES:
        defaults = BLIP_DEFAULTS if family == "BLIP" else CLIP_DEFAULTS
        tensor = tensor_numpy(frames, cfg, defaults)
        oracle = "numpy (transformers PIL-backend maths) over Pillow resize"
        if tf:
            cls = tf[1] if family == "BLIP" else tf[2]
            proc = cls.from_dict(dict(cfg))
            ref = proc([Image.fromarray(a, mode="RGB") for a in frames], return_tensors="np")["pixel_values"]
            assert ref.dtype == np.float32 and ref.shape == tensor.shape, (name, ref.shape, tensor.shape)
            # Bit-identical, not merely close: same ops in the same dtypes.
            assert np.array_equal(ref, tensor), (name, float(np.abs(ref - tensor).max()))
            oracle = f"transformers {tf[0].__version__} {cls.__name__}, identical to the numpy maths"
        cfg_file = name + "_preprocessor_config.json"
        with open(os.path.join(out, cfg_file), "w") as f:
            json.dump(cfg, f, indent=2, sort_keys=True)
            f.write("\n")
        bin_file = name + ".f32.bin"
        tensor.astype("<f4").tofile(os.path.join(out, bin_file))
        manifest["tensor_cases"].append({
            "name": name, "config": cfg_file, "frames": frame_names, "output": bin_file,
            "shape": list(tensor.shape), "dtype": "float32le", "oracle": oracle, "pass_order": "pillow13",
        })

    with open(os.path.join(out, "cases.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")

    total = sum(os.path.getsize(os.path.join(out, n)) for n in os.listdir(out))
    print(f"wrote {len(os.listdir(out))} files, {total} bytes to {out}"
          f" (transformers cross-check: {'yes' if tf else 'no'})")
    if total >= 1_500_000:
        sys.exit("fixture folder is over the 1.5 MB budget")


if __name__ == "__main__":
    main()
