"""PyTorch side of the vision benchmark: the same checkpoint, the same thread count, the same
batch, inference mode. Prints one JSON line like vidlm-bench."""
import json
import sys
import time

import torch
from transformers import AutoConfig, Blip2VisionModel, CLIPVisionModel


def main(folder: str, batch: int, repeats: int, threads: int) -> None:
    torch.set_num_threads(threads)
    config = AutoConfig.from_pretrained(folder)
    cls = CLIPVisionModel if config.model_type == "clip_vision_model" else Blip2VisionModel
    t0 = time.perf_counter()
    model = cls.from_pretrained(folder, torch_dtype=torch.float32).eval()
    load = time.perf_counter() - t0
    size = config.image_size
    pixels = (torch.arange(batch * 3 * size * size) * 7919 % 255).float().reshape(batch, 3, size, size) / 127.5 - 1
    times = []
    with torch.inference_mode():
        model(pixel_values=pixels[:1])  # warm-up (allocator, kernels)
        for _ in range(repeats):
            t = time.perf_counter()
            out = model(pixel_values=pixels)
            times.append(time.perf_counter() - t)
    print(json.dumps({"seconds": times, "batch": batch, "load_seconds": load, "threads": torch.get_num_threads(),
                      "torch": torch.__version__, "checksum": float(out.last_hidden_state.flatten()[:1000].sum())}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
