"""transformers side of the end-to-end VLM benchmark: one request in a fresh process, timed like
`vidlm ask --json` reports it. Prints one JSON object.

    torch_bench.py smolvlm MODEL_DIR CLIP FRAMES NEW_TOKENS THREADS
    torch_bench.py instructblipvideo MODEL_DIR FRAMES_DIR FRAMES NEW_TOKENS THREADS
    torch_bench.py blip2 MODEL_DIR IMAGE 1 NEW_TOKENS THREADS

smolvlm: AutoProcessor.apply_chat_template on the conversation [user: video CLIP + "Describe the
video."] with processor_kwargs num_frames=FRAMES (torchcodec decodes and samples by the video
processor's own rule, torchvision resizes), then `generate` (greedy, NEW_TOKENS new tokens, no stop
token) with a streamer that stamps every token.
instructblipvideo: the FRAMES PNGs `vidlm frames --count FRAMES` wrote (frames.json lists them) are
opened with PIL and given as one video to InstructBlipVideoProcessor with "Describe the video.".

Stages (seconds): processor = media decoding + resizing + tokenizing (PNG loading for
instructblipvideo); vision = the vision tower (forward hooks); bridge = connector / Q-Former +
projection; prefill = the rest of the first forward pass up to the first token; ttft = processor +
generate's start to the first token; decode_tok_s = (tokens − 1) / (last token − first token).
Peak RSS: resource.getrusage (the whole process: Python, torch, weights, activations).
"""
from __future__ import annotations

import json
import pathlib
import resource
import sys
import time

t_process = time.perf_counter()

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import AutoModelForImageTextToText, AutoProcessor  # noqa: E402
from transformers.generation.streamers import BaseStreamer  # noqa: E402

QUESTION = "Describe the video."


class Stamps(BaseStreamer):
    """generate() calls put() once with the prompt, then once per new token."""

    def __init__(self):
        self.calls: list[tuple[float, list[int]]] = []

    def put(self, value):
        self.calls.append((time.perf_counter(), value.reshape(-1).tolist()))

    def end(self):
        pass


class StageTimer:
    def __init__(self):
        self.spans: dict[str, list[float]] = {}

    def hook(self, module: torch.nn.Module, name: str) -> None:
        def pre(*_):
            self.spans.setdefault(name, []).append(-time.perf_counter())

        def post(*_):
            self.spans[name][-1] += time.perf_counter()
            self.last_end = time.perf_counter()

        module.register_forward_pre_hook(pre)
        module.register_forward_hook(post)

    def total(self, name: str) -> float:
        return sum(self.spans.get(name, []))


def main(kind: str, folder: str, media: str, frames: int, new_tokens: int, threads: int) -> None:
    torch.set_num_threads(threads)
    transformers.logging.set_verbosity_error()
    t0 = time.perf_counter()
    processor = AutoProcessor.from_pretrained(folder)
    model = AutoModelForImageTextToText.from_pretrained(folder, dtype="auto").eval()
    load = time.perf_counter() - t0
    timer = StageTimer()
    if kind == "smolvlm":
        timer.hook(model.model.vision_model, "vision")
        timer.hook(model.model.connector, "bridge")
    else:  # instructblipvideo, blip2
        timer.hook(model.vision_model, "vision")
        timer.hook(model.qformer, "bridge")
        timer.hook(model.language_projection, "bridge")
    streamer = Stamps()
    extra: dict = {}
    with torch.inference_mode():
        start = time.perf_counter()
        if kind == "smolvlm":
            messages = [{"role": "user", "content": [{"type": "video", "path": media},
                                                     {"type": "text", "text": QUESTION}]}]
            inputs = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                                   return_dict=True, return_tensors="pt",
                                                   processor_kwargs={"num_frames": frames})
        elif kind == "blip2":
            from PIL import Image
            image = Image.open(media).convert("RGB")
            # Blip2Processor: the query placeholders, then the prompt vidlm's BLIP-2 family builds.
            inputs = processor(images=image, text=f"Question: {QUESTION} Answer:", return_tensors="pt")
        else:
            from PIL import Image
            listing = json.loads((pathlib.Path(media) / "frames.json").read_text())
            entries = listing["frames"] if isinstance(listing, dict) else listing
            images = [Image.open(pathlib.Path(media) / e["file"]).convert("RGB") for e in entries]
            inputs = processor(images=images, text=QUESTION, return_tensors="pt")
            extra["frame_indices"] = [e.get("index") for e in entries]
        processed = time.perf_counter()
        gen_start = time.perf_counter()
        out = model.generate(**inputs, max_new_tokens=new_tokens, min_new_tokens=0, do_sample=False, num_beams=1,
                             eos_token_id=None, pad_token_id=model.config.get_text_config().pad_token_id,
                             repetition_penalty=1.0, streamer=streamer)
        done = time.perf_counter()
    tokens = [c for c in streamer.calls[1:]]
    first = tokens[0][0]
    last = tokens[-1][0]
    generated = [t for _, ids in tokens for t in ids]
    prompt_len = int(inputs["input_ids"].shape[1])
    assert out.shape[1] - prompt_len == len(generated), (out.shape, prompt_len, len(generated))
    vision, bridge = timer.total("vision"), timer.total("bridge")
    # The first forward pass runs vision, then the bridge, then the decoder; what is left between the
    # start of generate() and the first token, minus those, is prefill (+ generate's own set-up).
    prefill = (first - gen_start) - vision - bridge
    if kind == "smolvlm":
        vp = processor.video_processor
        meta = vp(videos=[media], return_metadata=True, return_tensors="pt", num_frames=frames, fps=vp.fps,
                  do_sample_frames=True)["video_metadata"][0]
        extra["frame_indices"] = [int(i) for i in meta.frames_indices]
        extra["video_fps"] = float(meta.fps)
        extra["video_duration"] = float(meta.duration)
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({
        "tool": "transformers", "kind": kind, "model": folder, "dtype": str(model.dtype).replace("torch.", ""),
        "load_seconds": load, "import_seconds": t0 - t_process,
        "processor_seconds": processed - start, "vision_seconds": vision, "bridge_seconds": bridge,
        "prefill_seconds": prefill, "ttft_seconds": first - start,
        "generation_seconds": last - first, "tokens": len(generated),
        "decode_tok_s": (len(generated) - 1) / (last - first) if len(generated) > 1 else 0.0,
        "request_seconds": done - start, "prompt_tokens": prompt_len,
        "prompt_token_ids": inputs["input_ids"][0].tolist(), "token_ids": generated,
        "pixel_values_shape": list(inputs["pixel_values"].shape),
        "peak_rss_kb": rss_kb, "threads": torch.get_num_threads(),
        "torch": torch.__version__, "transformers": transformers.__version__,
        "attn_implementation": model.config._attn_implementation, **extra,
    }))


if __name__ == "__main__":
    a = sys.argv[1:]
    main(a[0], a[1], a[2], int(a[3]), int(a[4]), int(a[5]))
