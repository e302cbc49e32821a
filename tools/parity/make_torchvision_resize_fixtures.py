"""Builds Tests/Fixtures/preprocess/torchvision/: torchvision's resize of uint8 pictures, the oracle of
vidlm's `RGBImage.resizedLikeTorchvision` (what transformers 5's torchvision image and video processors run).

    tools/.venv/bin/python tools/parity/make_torchvision_resize_fixtures.py

Inputs are the Pillow fixtures' pictures (Tests/Fixtures/preprocess/input_*.rgb). Each case is
`torchvision.transforms.v2.functional.resize(uint8 CHW tensor, [h, w], interpolation, antialias=True)`
with the interpolation transformers maps each PIL filter to (NEAREST → NEAREST_EXACT), written as raw
interleaved RGB to <name>.rgb; cases.json lists them.
"""
import json
import pathlib

import numpy as np
import torch
import torchvision
import torchvision.transforms.v2.functional as F
from transformers.image_utils import PILImageResampling, pil_torch_interpolation_mapping

ROOT = pathlib.Path(__file__).resolve().parents[2]
SOURCE = ROOT / "Tests" / "Fixtures" / "preprocess"
OUT = SOURCE / "torchvision"
INPUTS = {"frame_640x360": (640, 360), "odd_97x61": (97, 61), "portrait_45x80": (45, 80), "tall_2x250": (2, 250)}
FILTERS = {"nearest": PILImageResampling.NEAREST, "bilinear": PILImageResampling.BILINEAR,
           "bicubic": PILImageResampling.BICUBIC}
CASES = [  # input, width, height
    ("frame_640x360", 224, 224), ("frame_640x360", 113, 67), ("frame_640x360", 23, 360), ("odd_97x61", 160, 100),
    ("odd_97x61", 28, 8), ("odd_97x61", 97, 30), ("odd_97x61", 301, 61), ("portrait_45x80", 17, 31),
    ("portrait_45x80", 64, 114), ("tall_2x250", 7, 9), ("tall_2x250", 28, 250),
]


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    cases = []
    for source, w, h in CASES:
        iw, ih = INPUTS[source]
        pixels = np.fromfile(SOURCE / f"input_{iw}x{ih}.rgb", dtype=np.uint8).reshape(ih, iw, 3)
        tensor = torch.from_numpy(pixels).permute(2, 0, 1).contiguous()
        for name, resample in FILTERS.items():
            out = F.resize(tensor, [h, w], interpolation=pil_torch_interpolation_mapping[resample], antialias=True)
            case = f"{source}_to_{w}x{h}_{name}"
            out.permute(1, 2, 0).contiguous().numpy().tofile(OUT / f"{case}.rgb")
            cases.append({"name": case, "input": f"input_{iw}x{ih}.rgb", "input_width": iw, "input_height": ih,
                          "filter": name, "resample": int(resample), "width": w, "height": h, "output": f"{case}.rgb"})
    meta = {"generator": "tools/parity/make_torchvision_resize_fixtures.py", "torch": torch.__version__,
            "torchvision": torchvision.__version__, "cases": cases}
    (OUT / "cases.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"{len(cases)} cases")


if __name__ == "__main__":
    main()
