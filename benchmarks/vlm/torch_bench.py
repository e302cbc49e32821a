"""transformers side of the end-to-end VLM benchmark: one request in a fresh process, timed like
`vidlm ask --json` reports it. Prints one JSON object.

    torch_bench.py smolvlm MODEL_DIR CLIP FRAMES NEW_TOKENS THREADS
    torch_bench.py instructblipvideo MODEL_DIR FRAMES_DIR FRAMES NEW_TOKENS THREADS
    torch_bench.py blip2 MODEL_DIR IMAGE 1 NEW_TOKENS THREADS
    torch_bench.py llava MODEL_DIR IMAGE 1 NEW_TOKENS THREADS [QUESTION]
    torch_bench.py llava_onevision MODEL_DIR CLIP FRAMES NEW_TOKENS THREADS [QUESTION]
    torch_bench.py qwen2_5_vl MODEL_DIR CLIP|IMAGE FRAMES|0 NEW_TOKENS THREADS [QUESTION]
    torch_bench.py classify MODEL_DIR IMAGES_DIR COUNT BATCH THREADS LABELS [TEMPLATE]

smolvlm: AutoProcessor.apply_chat_template on the conversation [user: video CLIP + "Describe the
video."] with processor_kwargs num_frames=FRAMES (torchcodec decodes and samples by the video
processor's own rule, torchvision resizes), then `generate` (greedy, NEW_TOKENS new tokens, no stop
token) with a streamer that stamps every token.
instructblipvideo: the FRAMES PNGs `vidlm frames --count FRAMES` wrote (frames.json lists them) are
opened with PIL and given as one video to InstructBlipVideoProcessor with "Describe the video.".
llava (LLaVA-1.5): the image opened with PIL, processor(text=apply_chat_template(...), images=image).
llava_onevision: the FRAMES frames vidlm samples (segment centres: index ⌊(i + ½)·N/FRAMES⌋ of a
constant-rate clip of N frames) decoded by torchcodec (exact seek), given as one video to the
processor with the chat template's prompt.
qwen2_5_vl: apply_chat_template on [user: video CLIP (or image IMAGE) + question] with tokenize=True
(torchcodec decodes; the video processor samples at its configured fps, or FRAMES frames when
FRAMES > 0), then generate.
classify (CLIP): the first COUNT images of IMAGES_DIR (sorted) opened with PIL and classified in
batches of BATCH with CLIPProcessor(text=labels, images=batch, padding=True) and CLIPModel's
logits_per_image.softmax; the labels (comma-separated, through TEMPLATE's {}) are embedded with each
batch, as a user calling the model with the processor does. Prints load and classify seconds and
each image's probabilities.

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


def segment_centres(total: int, count: int) -> list[int]:
    """vidlm's uniform sampling of a constant-rate clip: the frame at each of `count` segments' centre."""
    return [min(total - 1, int((i + 0.5) * total / count)) for i in range(count)]


def classify(folder: str, images_dir: str, count: int, batch: int, threads: int, labels: str, template: str | None) -> None:
    from PIL import Image
    from transformers import CLIPModel, CLIPProcessor
    torch.set_num_threads(threads)
    transformers.logging.set_verbosity_error()
    t0 = time.perf_counter()
    processor = CLIPProcessor.from_pretrained(folder)
    model = CLIPModel.from_pretrained(folder, dtype="auto").eval()
    load = time.perf_counter() - t0
    texts = [template.replace("{}", label) if template else label for label in labels.split(",")]
    paths = sorted(p for p in pathlib.Path(images_dir).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:count]
    probabilities = []
    start = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(paths), batch):
            images = [Image.open(p).convert("RGB") for p in paths[i:i + batch]]
            inputs = processor(text=texts, images=images, return_tensors="pt", padding=True)
            probabilities += model(**inputs).logits_per_image.softmax(dim=-1).tolist()
    seconds = time.perf_counter() - start
    print(json.dumps({
        "tool": "transformers", "kind": "classify", "model": folder, "dtype": str(model.dtype).replace("torch.", ""),
        "import_seconds": t0 - t_process, "load_seconds": load, "classify_seconds": seconds, "images": len(paths),
        "batch": batch, "images_per_s": len(paths) / seconds, "texts": texts, "files": [p.name for p in paths],
        "probabilities": probabilities, "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "threads": torch.get_num_threads(), "torch": torch.__version__, "transformers": transformers.__version__,
    }))


def main(kind: str, folder: str, media: str, frames: int, new_tokens: int, threads: int, question: str = QUESTION) -> None:
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
    elif kind in ("llava", "llava_onevision"):
        timer.hook(model.model.vision_tower, "vision")
        timer.hook(model.model.multi_modal_projector, "bridge")
    elif kind == "qwen2_5_vl":
        # The patch merger runs inside the visual module: vision includes it, bridge stays 0.
        timer.hook(model.model.visual, "vision")
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
                                                     {"type": "text", "text": question}]}]
            inputs = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                                   return_dict=True, return_tensors="pt",
                                                   processor_kwargs={"num_frames": frames})
        elif kind == "qwen2_5_vl":
            part = "image" if is_image(media) else "video"
            messages = [{"role": "user", "content": [{"type": part, "path": media}, {"type": "text", "text": question}]}]
            inputs = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                                   return_dict=True, return_tensors="pt",
                                                   # num_frames and the configured fps are exclusive: fps None.
                                                   processor_kwargs={"num_frames": frames, "fps": None}
                                                   if part == "video" and frames > 0 else {})
        elif kind == "llava":
            from PIL import Image
            image = Image.open(media).convert("RGB")
            messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
            prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            inputs = processor(text=prompt, images=image, return_tensors="pt")
        elif kind == "llava_onevision":
            from torchcodec.decoders import VideoDecoder
            decoder = VideoDecoder(media, seek_mode="exact", device="cpu")
            indices = segment_centres(decoder.metadata.num_frames, frames)
            clip = decoder.get_frames_at(indices=indices).data.permute(0, 2, 3, 1).numpy()
            messages = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": question}]}]
            prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            inputs = processor(text=prompt, videos=[clip], return_tensors="pt")
            extra["frame_indices"] = indices
        elif kind == "blip2":
            from PIL import Image
            image = Image.open(media).convert("RGB")
            # Blip2Processor: the query placeholders, then the prompt vidlm's BLIP-2 family builds.
            inputs = processor(images=image, text=f"Question: {question} Answer:", return_tensors="pt")
        else:
            from PIL import Image
            listing = json.loads((pathlib.Path(media) / "frames.json").read_text())
            entries = listing["frames"] if isinstance(listing, dict) else listing
            images = [Image.open(pathlib.Path(media) / e["file"]).convert("RGB") for e in entries]
            inputs = processor(images=images, text=question, return_tensors="pt")
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
    if kind == "smolvlm" or (kind == "qwen2_5_vl" and not is_image(media)):
        vp = processor.video_processor
        sampling = ({"num_frames": frames, "fps": vp.fps} if kind == "smolvlm"
                    else {"num_frames": frames, "fps": None} if frames > 0 else {"fps": vp.fps})
        meta = vp(videos=[media], return_metadata=True, return_tensors="pt", do_sample_frames=True,
                  **sampling)["video_metadata"][0]
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
        "pixel_values_shape": list(next(inputs[k] for k in ("pixel_values", "pixel_values_videos") if k in inputs).shape),
        **{k: inputs[k].tolist() for k in ("image_grid_thw", "video_grid_thw") if k in inputs},
        "peak_rss_kb": rss_kb, "threads": torch.get_num_threads(),
        "torch": torch.__version__, "transformers": transformers.__version__,
        "attn_implementation": model.config._attn_implementation, **extra,
    }))


def is_image(path: str) -> bool:
    return pathlib.Path(path).suffix.lower() in (".png", ".jpg", ".jpeg", ".webp", ".bmp")


if __name__ == "__main__":
    a = sys.argv[1:]
    if a[0] == "classify":
        classify(a[1], a[2], int(a[3]), int(a[4]), int(a[5]), a[6], a[7] if len(a) > 7 else None)
    else:
        main(a[0], a[1], a[2], int(a[3]), int(a[4]), int(a[5]), *(a[6:7]))
