"""Randomized differential sweep of the LLaVA families against transformers (the fixed fixtures of
make_llava*_fixtures.py / make_video_llava_fixtures.py check one shape each; this checks many):

    tools/.venv/bin/python tools/parity/sweep_llava.py --first 0 --count 30 \
        [--family llava|llava_next|llava_next_video|llava_onevision|video_llava|mixed] [--kind image|clip|mixed|chat]

Per seed: a random tiny random-weight model of the family, written by transformers (`save_pretrained` of the
model and its processor, both read back from the folder), with random but valid shapes — a CLIP tower (any
strategy where the family allows it) or a SigLIP tower (strategy "full", sometimes saved with its unused pooling
head), image and patch sizes, `vision_feature_layer` as a negative, non-negative or list index, the projector's
activation and bias,
`image_grid_pinpoints` (random tiles and order) for the AnyRes families, `vision_aspect_ratio` anyres_max_N
for OneVision, `spatial_pool_mode` for LLaVA-NeXT-Video, a LLaMA / Mistral (sliding window) / Qwen2 decoder
with GQA, tied or untied embeddings and a random rope theta — random processor settings (shortest-edge, square
or oblong resize, with or without the centre crop, filter, LLaVA's `do_pad`, mean / std), the family's chat
template (sometimes writing BOS itself), a random question, and a random input:
  image: a PNG / JPEG / WebP still (RGB, grey, grey + alpha, palette, RGBA) of any aspect ratio (tiny, extreme
         and large ones too) with an EXIF orientation, given to `processor.apply_chat_template(..., tokenize=True)`
         by path (Video-LLaVA's Pillow processor told the channels are last: it guesses for a picture 1 or 3
         pixels high);
  clip:  a clip of differential_sweep.py's `make_clip` (containers, codecs, variable rate), asked with
         `--frames N` or the family's default count. vidlm samples uniformly (the frames of its `--json`
         answer; the media sweep checks those against torchcodec); transformers gets the same frames of
         torchcodec's exact decode of the whole clip, the way each family's fixture script gives them: LLaVA
         and LLaVA-NeXT (no video input) as one image part per frame, LLaVA-NeXT-Video, OneVision and
         Video-LLaVA as one video (`processor(text=..., videos=[frames])`; their processors' default
         `do_sample_frames` is off).
The processor's input_ids must equal `vidlm ask --json`'s prompt_token_ids, and transformers' greedy ids
(12 new tokens, EOS the tokenizer's) vidlm's token_ids; a first difference where transformers' top-2 margin
is below 1e-3 is a tie, an input transformers itself refuses a skip. `--kind chat`: two turns through `vidlm chat`
about one or two stills (sweep_common.conversation).

Needs the release CLI (`swift build -c release --product vidlm`), ffmpeg, and tools/requirements.txt.
Exits non-zero when any seed fails.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import random
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools" / "parity"))
from sweep_common import conversation, greedy_verdict, reference_greedy, run_seeds  # noqa: E402

FAMILIES = ["llava", "llava_next", "llava_next_video", "llava_onevision", "video_llava"]
# The chat template each family's fixtures use (LLaVA and LLaVA-NeXT also get the other one at random).
TEMPLATES = ROOT / "Tests" / "Fixtures" / "chat_templates" / "templates"
_TOKENIZERS: dict = {}


def tokenizer_for(family: str):
    """The family fixture script's test tokenizer (cached)."""
    name = {"llava": "llava", "llava_next": "llava", "llava_next_video": "video", "video_llava": "video",
            "llava_onevision": "qwen2"}[family]
    if name not in _TOKENIZERS:
        if name == "llava":
            import make_llava_fixtures as M
        elif name == "video":
            import make_llava_next_video_fixtures as M
        else:
            import make_llava_onevision_fixtures as M
        _TOKENIZERS[name] = M.build_tokenizer()
    return _TOKENIZERS[name]


def chat_template(rng: random.Random, family: str) -> str:
    """The family's template; sometimes one that writes BOS itself (the processor then adds none)."""
    import make_llava_next_fixtures as N
    if family in ("llava", "llava_next"):
        template = rng.choice([(TEMPLATES / "15-llava-1.5.jinja").read_text(), N.TEMPLATE])
    else:
        template = (TEMPLATES / {"llava_next_video": "16-llava-next-video.jinja", "llava_onevision": "17-llava-onevision.jinja",
                                 "video_llava": "18-video-llava.jinja"}[family]).read_text()
    if family != "llava_onevision" and rng.random() < 0.25:
        template = "{{- bos_token -}}" + template
    return template


def widen(model, g):
    """make_smolvlm_fixtures.widen_weights, plus what the LLaVA scripts' loops also widen: CLIP's
    pre_layrnorm as a norm, class embedding and image_newline as embeddings (greedy margins not ties)."""
    import torch
    import make_smolvlm_fixtures as S
    S.widen_weights(model, g)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "layrnorm.weight" in name:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif "class_embedding" in name or "image_newline" in name:
                p.copy_(0.5 * torch.randn(p.shape, generator=g))


def vision_config(rng: random.Random, family: str) -> tuple[dict, str]:
    """A tower config and the strategy: CLIP (default or full where the family allows it) or SigLIP (full)."""
    tower = "clip" if family == "video_llava" or rng.random() < 0.6 else "siglip"
    if tower == "clip":
        # LLaVA-NeXT(-Video) and OneVision lay out side² features per tile: "full" keeps CLIP's class token.
        strategy = rng.choice(["default", "full"]) if family in ("llava", "video_llava") else "default"
    else:
        strategy = "full"
    patch = rng.choice([4, 6, 8, 14])
    side = rng.choice([2, 3, 4]) if family != "llava_next_video" else rng.choice([2, 4])  # its pooler halves the grid
    hidden = rng.choice([16, 32, 48])
    heads = rng.choice([h for h in (1, 2, 4) if hidden % h == 0])
    config = dict(hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=rng.choice([1, 2, 3]),
                  num_attention_heads=heads, num_channels=3, image_size=side * patch, patch_size=patch)
    if tower == "clip":
        config |= dict(model_type="clip_vision_model", hidden_act=rng.choice(["quick_gelu", "gelu"]), layer_norm_eps=1e-5,
                       projection_dim=16)
    else:
        config |= dict(model_type="siglip_vision_model", hidden_act="gelu_pytorch_tanh", layer_norm_eps=1e-6,
                       vision_use_head=rng.random() < 0.25)  # the pooling head's weights are saved, never used
    return config, strategy


def feature_layer(rng: random.Random, layers: int):
    """An index into hidden_states (0 = embeddings … layers): negative, non-negative, or a list of two."""
    one = lambda: rng.choice([rng.randrange(-layers - 1, 0), rng.randrange(0, layers + 1)])  # noqa: E731
    form = rng.choice(["negative", "index", "list"])
    if form == "negative":
        return rng.randrange(-layers - 1, 0)
    if form == "index":  # 0 alone: transformers 5.23 runs the tower without hidden states and fails (0 is falsy)
        return rng.randrange(1, layers + 1)
    return [one(), one()]


def text_config(rng: random.Random, tokenizer) -> dict:
    kind = rng.choice(["llama", "mistral", "qwen2"])
    hidden = rng.choice([32, 64]); heads = rng.choice([2, 4])
    kv = rng.choice([k for k in (1, 2, heads) if heads % k == 0])
    special = dict(eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                   bos_token_id=tokenizer.bos_token_id)
    config = dict(model_type=kind, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=rng.choice([1, 2]),
                  num_attention_heads=heads, num_key_value_heads=kv, vocab_size=len(tokenizer),
                  max_position_embeddings=4096, rope_theta=rng.choice([10000.0, 500000.0, 1000000.0]),
                  rms_norm_eps=rng.choice([1e-5, 1e-6]), tie_word_embeddings=rng.random() < 0.3, hidden_act="silu", **special)
    if kind == "mistral":
        config["sliding_window"] = rng.choice([None, 24, 64])
    return config


def pinpoints(rng: random.Random, tile: int) -> list[list[int]]:
    """A few grids of up to 6 × 6 tiles (OneVision's default pinpoints go to 6 × 6), in random order."""
    grids = [[h, w] for h in range(1, 7) for w in range(1, 7)]
    picked = rng.sample(grids, rng.randrange(1, 7))
    return [[h * tile, w * tile] for h, w in picked]


def build(rng: random.Random, family: str, folder: str):
    """A random tiny model + processor of `family`, saved to `folder` and read back; (model, processor, facts)."""
    import torch
    import transformers as T
    from transformers.image_utils import PILImageResampling as R
    tokenizer = tokenizer_for(family)
    ids = tokenizer.convert_tokens_to_ids
    vision, strategy = vision_config(rng, family)
    image_size, patch = vision["image_size"], vision["patch_size"]
    side = image_size // patch
    clip_tower = vision["model_type"] == "clip_vision_model"
    text = text_config(rng, tokenizer)
    layer = feature_layer(rng, vision["num_hidden_layers"])
    common = dict(text_config=text, vision_config=vision, image_token_index=ids("<image>"),
                  projector_hidden_act=rng.choice(["gelu", "gelu", "silu", "relu"]),
                  vision_feature_select_strategy=strategy, vision_feature_layer=layer,
                  multimodal_projector_bias=rng.random() < 0.8, tie_word_embeddings=text["tie_word_embeddings"])
    facts = {"family": family, "tower": vision["model_type"].split("_")[0] + ("+head" if vision.get("vision_use_head") else ""),
             "image": image_size, "patch": patch,
             "layers": vision["num_hidden_layers"], "feature_layer": layer, "strategy": strategy, "decoder": text["model_type"],
             "gqa": f"{text['num_attention_heads']}/{text['num_key_value_heads']}", "tied": text["tie_word_embeddings"]}
    resample = rng.choice([R.BICUBIC, R.BICUBIC, R.BICUBIC, R.BILINEAR, R.BILINEAR, R.NEAREST])
    norm = rng.choice([dict(image_mean=[0.48145466, 0.4578275, 0.40821073], image_std=[0.26862954, 0.26130258, 0.27577711]),
                       dict(image_mean=[0.5] * 3, image_std=[0.5] * 3)])
    shortest = image_size + rng.choice([0, 0, patch, 7])
    form = rng.choice(["shortest"] * 6 + ["square", "oblong", "no crop"])
    if form == "shortest":
        size = {"shortest_edge": shortest}
    elif form == "oblong":  # resized to a rectangle, then centre-cropped
        size = {"height": image_size + rng.choice([0, 3, patch]), "width": image_size + rng.choice([0, 5, patch])}
    else:
        size = {"height": image_size, "width": image_size}
    clip_sizes = dict(size=size, crop_size={"height": image_size, "width": image_size}, resample=resample,
                      do_center_crop=form != "no crop", **norm)
    facts |= {"resample": int(resample), "size": size}
    template = chat_template(rng, family)
    if template.startswith("{{- bos_token"):
        facts["template_writes_bos"] = True
    counting = dict(patch_size=patch, num_additional_image_tokens=1 if clip_tower else 0,
                    vision_feature_select_strategy=strategy)
    if family == "llava":
        pad = rng.random() < 0.4
        config = T.LlavaConfig(image_seq_length=side * side, **common)
        model_cls = T.LlavaForConditionalGeneration
        processor = T.LlavaProcessor(image_processor=T.LlavaImageProcessor(do_pad=pad, **clip_sizes), tokenizer=tokenizer,
                                     chat_template=template, **counting)
        facts["do_pad"] = pad
    elif family in ("llava_next", "llava_next_video"):
        points = pinpoints(rng, image_size)
        facts["pinpoints"] = points
        images = T.LlavaNextImageProcessor(image_grid_pinpoints=points, **clip_sizes)
        if family == "llava_next":
            config = T.LlavaNextConfig(image_grid_pinpoints=points, image_seq_length=side * side, **common)
            model_cls = T.LlavaNextForConditionalGeneration
            processor = T.LlavaNextProcessor(image_processor=images, tokenizer=tokenizer, chat_template=template, **counting)
        else:
            mode = rng.choice(["average", "max"])
            facts["pool"] = mode
            config = T.LlavaNextVideoConfig(image_grid_pinpoints=points, video_token_index=ids("<video>"), spatial_pool_mode=mode,
                                            spatial_pool_stride=2, image_seq_length=side * side,
                                            video_seq_length=(side // 2) ** 2, **common)
            model_cls = T.LlavaNextVideoForConditionalGeneration
            videos = T.LlavaNextVideoVideoProcessor(**clip_sizes)
            processor = T.LlavaNextVideoProcessor(image_processor=images, video_processor=videos, tokenizer=tokenizer,
                                                  chat_template=template, **counting)
    elif family == "llava_onevision":
        if rng.random() < 0.3:  # the published checkpoints' grids: every 1..6 x 1..6 tiles, anyres_max_9
            points, aspect = [[h * image_size, w * image_size] for h in range(1, 7) for w in range(1, 7)], "anyres_max_9"
        else:
            points, aspect = pinpoints(rng, image_size), f"anyres_max_{rng.choice([1, 1, 2, 3, 4, 9])}"
        sizes = dict(size={"height": image_size, "width": image_size}, resample=resample, **norm)
        facts |= {"pinpoints": points, "aspect": aspect, "size": sizes["size"]}
        config = T.LlavaOnevisionConfig(image_grid_pinpoints=points, video_token_index=ids("<video>"), vision_aspect_ratio=aspect,
                                        **common)
        model_cls = T.LlavaOnevisionForConditionalGeneration
        processor = T.LlavaOnevisionProcessor(
            image_processor=T.LlavaOnevisionImageProcessor(image_grid_pinpoints=points, **sizes),
            video_processor=T.LlavaOnevisionVideoProcessor(**sizes), tokenizer=tokenizer,
            num_image_tokens=side * side + (1 if clip_tower else 0), vision_feature_select_strategy=strategy,
            chat_template=template, vision_aspect_ratio=aspect)
    else:
        config = T.VideoLlavaConfig(video_token_index=ids("<video>"), image_seq_length=side * side,
                                    video_seq_length=8 * (side * side + 1), **common)
        model_cls = T.VideoLlavaForConditionalGeneration
        processor = T.VideoLlavaProcessor(image_processor=T.VideoLlavaImageProcessor(**clip_sizes),
                                          video_processor=T.VideoLlavaVideoProcessor(**clip_sizes), tokenizer=tokenizer,
                                          chat_template=template, **counting)
    torch.manual_seed(rng.randrange(1 << 30))
    model = model_cls(config).float().eval()
    widen(model, torch.Generator().manual_seed(rng.randrange(1 << 30)))
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    processor = T.AutoProcessor.from_pretrained(folder)
    model = model_cls.from_pretrained(folder).float().eval()
    return model, processor, facts


def still(rng: random.Random, work: str, seed: int, name: str = "input") -> tuple[str, str]:
    import make_llava_fixtures as L
    from PIL import Image
    shape = rng.choice(["usual", "usual", "usual", "tiny", "extreme", "large"])
    if shape == "usual":
        w, h = rng.randrange(12, 400), rng.randrange(12, 400)
    elif shape == "large":
        w, h = rng.randrange(300, 1300), rng.randrange(300, 1300)
    elif shape == "tiny":
        w, h = rng.randrange(1, 9), rng.randrange(1, 9)
    else:
        w, h = rng.randrange(2, 8), rng.randrange(100, 300)
        if rng.random() < 0.5:
            w, h = h, w
    fmt, orientation = rng.choice(["png", "jpg", "jpg", "webp"]), rng.choice([1, 1, 3, 5, 6, 8])
    # Mostly RGB; also grey, grey + alpha, palette and RGBA stills (their alpha opaque: a transparent pixel's
    # colour is a matter of how each side flattens it, not of the model).
    mode = rng.choice(["RGB"] * 6 + ["L", "LA", "P", "RGBA"])
    if fmt == "jpg" and mode not in ("RGB", "L"):
        mode = "RGB"
    exif = Image.Exif(); exif[0x0112] = orientation
    path = os.path.join(work, f"{name}.{fmt}")
    picture = L.make_image(w, h, seed % 7)
    picture = picture.convert("P", palette=Image.Palette.ADAPTIVE) if mode == "P" else picture.convert(mode)
    picture.save(path, exif=exif.tobytes(), **({"quality": rng.choice([70, 90])} if fmt == "jpg" else {}))
    return path, f"{w}x{h} {mode} {fmt} EXIF {orientation}"


def frames_at(clip: str, indices: list[int]):
    """The frames of these indices in torchcodec's exact decode of the whole clip, [T, H, W, 3] uint8 (what the
    media sweep checks vidlm's frames against). Not `get_frames_at(indices)`: where frames share a pts (a WebM
    whose rate rose past its millisecond time base) that seeks to the first frame of the pts."""
    from torchcodec.decoders import VideoDecoder
    decoder = VideoDecoder(clip, seek_mode="exact")
    every = decoder.get_frames_in_range(0, decoder.metadata.num_frames).data
    return every[indices].permute(0, 2, 3, 1).contiguous()


def run_vidlm(vidlm: str, media: str, question: str, folder: str, frames: int | None):
    r = subprocess.run([vidlm, "ask", media, question, "--model", folder, "--json", "--max-tokens", "12",
                        *(["--frames", str(frames)] if frames else [])], capture_output=True, text=True)
    if r.returncode:
        return None, r.stderr.strip()
    return json.loads(r.stdout), None


def seed(seed: int, vidlm: str, work: str, family: str = "mixed", kind: str = "mixed") -> tuple[str, str]:
    """One random model and input of `family` ("mixed": any); ("ok" | "tie" | "skip" | "fail", description)."""
    import torch
    import transformers
    from differential_sweep import make_clip
    from PIL import Image
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    rng = random.Random(seed)
    family = family if family != "mixed" else rng.choice(FAMILIES)
    kind = kind if kind != "mixed" else rng.choice(["image", "clip"])
    rng = random.Random(f"{seed}:{family}:{kind}")  # one seed's models differ from family to family
    turns = 1
    if kind == "chat":  # two turns through `vidlm chat` about one or two stills
        kind, turns = "image", 2
    try:
        model, processor, facts = build(rng, family, work)
    except Exception as error:  # the sweep drew a model transformers will not build: the sweep's fault, shown
        return "fail", f"{family}: the sweep could not build its model: {type(error).__name__}: {str(error)[:200]}"
    tokenizer = processor.tokenizer
    question = rng.choice(["What is in this image?", "Describe it.", "what happens", "Is there a red ball?",
                           "  Qu'est-ce que c'est ? ", "Wie viele Kreise siehst du? 😀", "line one\nline two"])
    if kind == "image":
        media, facts["input"] = still(rng, work, seed)
        messages = [{"role": "user", "content": [{"type": "image", "path": media}, {"type": "text", "text": question}]}]
        frames = None
        # Video-LLaVA's image processor is Pillow-based and guesses the channel axis: an H×W×3 picture 1 or 3
        # pixels high reads as channels-first. Say where the channels are (what the file means).
        told = {"processor_kwargs": {"input_data_format": "channels_last"}} if family == "video_llava" else {}
        if turns == 2:
            # A chat reads one question a line, trimmed, as typed at a terminal.
            question = " ".join(question.split("\n")).strip()
            attached = [("image", media)]
            if rng.random() < 0.5:
                second, about = still(rng, work, seed + 1, "second")
                attached.insert(rng.randrange(2), ("image", second))
                facts["input"] += f" + {about}"
            messages = [{"role": "user", "content": [{"type": k, "path": m} for k, m in attached]
                         + [{"type": "text", "text": question}]}]
            return conversation(rng, vidlm, model, processor, work, attached, messages, facts, 12, template_kwargs=told)
        try:
            inputs = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True,
                                                   return_tensors="pt", **told)
        except Exception as error:  # the reference itself cannot read this input: nothing to compare
            return "skip", f"{facts}: transformers: {type(error).__name__}: {str(error)[:160]}"
        answer, error = run_vidlm(vidlm, media, question, work, None)
    else:
        ext = rng.choice(["mp4", "mkv", "webm", "mov", "avi", "ogg"])
        media = os.path.join(work, "input." + ext)
        try:
            facts["input"] = f"{ext} {make_clip(rng, media, ext)}"
        except subprocess.CalledProcessError:
            return "skip", f"{ext}: ffmpeg could not write this combination"
        frames = rng.choice([None, 1, 2, 3, 4, 8])
        facts["frames"] = frames or "default"
        answer, error = run_vidlm(vidlm, media, question, work, frames)
        if answer is None:
            return "fail", f"{facts}: vidlm: {error}"
        indices = [f["index"] for f in answer["frames"]]
        facts["indices"] = indices
        try:
            decoded = frames_at(media, indices)
        except Exception as error:  # the reference cannot decode this clip: nothing to compare
            return "skip", f"{facts}: torchcodec: {type(error).__name__}: {str(error)[:160]}"
        if family in ("llava", "llava_next"):  # no video input: one image part per frame
            content = [{"type": "image"} for _ in indices]
            media_kwargs = {"images": [Image.fromarray(f.numpy()) for f in decoded]}
        else:
            content = [{"type": "video"}]
            media_kwargs = {"videos": [decoded.numpy()]}
        messages = [{"role": "user", "content": content + [{"type": "text", "text": question}]}]
        try:
            prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            # As apply_chat_template(tokenize=True) does: no second BOS when the template wrote one.
            bos = tokenizer.bos_token
            inputs = processor(text=prompt, return_tensors="pt", add_special_tokens=not (bos and prompt.startswith(bos)),
                               **media_kwargs)
        except Exception as error:
            return "skip", f"{facts}: transformers: {type(error).__name__}: {str(error)[:160]}"
    try:
        want, margins = reference_greedy(model, inputs, tokenizer, 12)
    except Exception as error:
        return "skip", f"{facts}: transformers generate: {type(error).__name__}: {str(error)[:160]}"
    if kind == "image":
        if answer is None:
            return "fail", f"{facts}: vidlm: {error}"
    prompt_ids = inputs["input_ids"][0].tolist()
    got_prompt = answer.get("prompt_token_ids")
    if got_prompt != prompt_ids:
        at = next((i for i in range(min(len(got_prompt), len(prompt_ids))) if got_prompt[i] != prompt_ids[i]),
                  min(len(got_prompt), len(prompt_ids)))
        return "fail", (f"{facts}: prompt ids differ at {at} (vidlm {len(got_prompt)} ids, transformers {len(prompt_ids)}; "
                        f"vidlm {got_prompt[at:at + 6]}, transformers {prompt_ids[at:at + 6]})")
    status, why = greedy_verdict(answer["token_ids"], want, margins)
    return status, f"{facts}: {why}" if why else str(facts)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--count", type=int, default=30)
    parser.add_argument("--family", choices=FAMILIES + ["mixed"], default="mixed")
    parser.add_argument("--kind", choices=["image", "clip", "mixed", "chat"], default="mixed")
    parser.add_argument("--vidlm", default=str(ROOT / ".build" / "release" / "vidlm"))
    parser.add_argument("--keep", help="copy each failing seed's folder (model + input) under this folder")
    args = parser.parse_args()
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
    run_seeds(lambda s, work: seed(s, args.vidlm, work, args.family, args.kind), args.first, args.count,
              "vidlm-llava-sweep-", keep=args.keep)


if __name__ == "__main__":
    main()
