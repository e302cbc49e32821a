"""Randomized differential check of the BLIP-2 and InstructBLIP-Video families against transformers:

    tools/.venv/bin/python tools/parity/sweep_blip.py --first 0 --count 30 [--family blip-2|instructblipvideo|mixed]

Per seed: a tiny random model written by transformers (EVA tower of random width, depth, image and patch
size; a Q-Former with a random cross-attention frequency and query count; an OPT or LLaMA decoder with
GQA and tied or untied embeddings), its processor saved next to it as published checkpoints carry one
(`preprocessor_config.json` naming `BlipImageProcessor`), and a random input: for BLIP-2 a still of any
size and aspect ratio (PNG, JPEG or WebP, with an EXIF orientation), for InstructBLIP-Video a clip from
`differential_sweep.make_clip` (several containers and codecs). transformers gets the pixels its own
processors make (`Blip2Processor` / `InstructBlipVideoProcessor` on the picture, or on the frames vidlm
reports it sampled, decoded by torchcodec's exact decoder), and the prompt ids and greedy ids must equal
`vidlm ask --json`'s (a first difference where transformers' top-2 margin is below 1e-3 is a tie).
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

import numpy as np
import torch
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools" / "parity"))
from sweep_common import greedy_verdict, random_init, run_seeds, top2_margins  # noqa: E402

TOKENIZERS = ROOT / "Tests" / "Fixtures" / "tokenizers"
NEW_TOKENS = 10


def random_weights(model, rng: random.Random):
    """sweep_common.random_init with a seed and a weight scale drawn from `rng`."""
    seed = rng.randrange(1 << 30)
    return random_init(model, seed, rng.choice([0.2, 0.3]))


def towers(rng: random.Random, qformer_vocab: int) -> tuple[dict, dict, int]:
    patch = rng.choice([4, 8, 14, 16])
    image_size = patch * rng.choice([2, 3, 4])
    vh = rng.choice([16, 32, 48])
    vision = dict(hidden_size=vh, intermediate_size=2 * vh, num_hidden_layers=rng.choice([1, 2]),
                  num_attention_heads=rng.choice([h for h in (1, 2, 4) if vh % h == 0]), image_size=image_size,
                  patch_size=patch, qkv_bias=rng.random() < 0.8)
    qh = rng.choice([16, 32])
    qformer = dict(hidden_size=qh, num_hidden_layers=rng.choice([1, 2, 3]), num_attention_heads=rng.choice([2, 4]),
                   intermediate_size=2 * qh, cross_attention_frequency=rng.choice([1, 2]), encoder_hidden_size=vh,
                   vocab_size=qformer_vocab, max_position_embeddings=64)
    return vision, qformer, image_size


def decoder(rng: random.Random, tok, kind: str) -> dict:
    h = rng.choice([32, 48, 64])
    heads = rng.choice([2, 4])
    if kind == "opt":
        return dict(model_type="opt", vocab_size=len(tok), hidden_size=h, ffn_dim=2 * h, num_hidden_layers=rng.choice([1, 2]),
                    num_attention_heads=heads, max_position_embeddings=256, word_embed_proj_dim=h,
                    do_layer_norm_before=True, bos_token_id=tok.bos_token_id, pad_token_id=1,
                    eos_token_id=tok.convert_tokens_to_ids("<|im_end|>"), tie_word_embeddings=rng.random() < 0.5)
    return dict(model_type="llama", vocab_size=len(tok), hidden_size=h, intermediate_size=2 * h,
                num_hidden_layers=rng.choice([1, 2]), num_attention_heads=heads,
                num_key_value_heads=rng.choice([k for k in (1, 2, heads) if heads % k == 0]), max_position_embeddings=256,
                rope_theta=rng.choice([10000.0, 500000.0]), bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                pad_token_id=0, tie_word_embeddings=rng.random() < 0.3)


def still(rng: random.Random, work: str, seed: int) -> tuple[str, str]:
    import make_smolvlm_fixtures as F
    fmt, orientation = rng.choice(["png", "jpg", "webp"]), rng.choice([1, 1, 3, 6, 8])
    exif = Image.Exif()
    exif[0x0112] = orientation
    picture = F.make_image(rng.randrange(6, 500), rng.randrange(6, 500), seed)
    path = os.path.join(work, "input." + fmt)
    picture.save(path, exif=exif.tobytes(), **({"quality": rng.choice([75, 95])} if fmt == "jpg" else {}))
    return path, f"{picture.width}x{picture.height} {fmt} EXIF {orientation}"


def run_vidlm(vidlm: str, media: str, question: str, work: str) -> dict:
    r = subprocess.run([vidlm, "ask", media, question, "--model", work, "--json", "--max-tokens", str(NEW_TOKENS)],
                       capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(r.stderr.strip())
    return json.loads(r.stdout)


def compare(want: list[int], scores, got: list[int], eos: int) -> tuple[str, str]:
    if want and want[-1] == eos:
        want = want[:-1]  # vidlm's token_ids leave the stop token out
    return greedy_verdict(got, want, top2_margins(scores))


def blip2_seed(rng: random.Random, seed: int, vidlm: str, work: str) -> tuple[str, str]:
    from transformers import (Blip2Config, Blip2ForConditionalGeneration, Blip2Processor, BlipImageProcessor,
                              PreTrainedTokenizerFast)
    from transformers.image_utils import load_image
    kind = rng.choice(["opt", "llama"])
    tok = PreTrainedTokenizerFast.from_pretrained(str(TOKENIZERS / ("gpt2" if kind == "opt" else "llama2")))
    if "<image>" not in tok.get_vocab():
        tok.add_tokens(["<image>"], special_tokens=True)
    vision, qformer, size = towers(rng, 60)
    queries = rng.choice([1, 2, 4, 8])
    text = decoder(rng, tok, kind)
    config = Blip2Config(vision_config=vision, qformer_config=qformer, text_config=text, num_query_tokens=queries,
                         image_token_index=tok.convert_tokens_to_ids("<image>"))
    torch.manual_seed(rng.randrange(1 << 30))
    model = random_weights(Blip2ForConditionalGeneration(config), rng)
    processor = Blip2Processor(image_processor=BlipImageProcessor(size={"height": size, "width": size}), tokenizer=tok,
                               num_query_tokens=queries)
    model.save_pretrained(work)
    processor.save_pretrained(work)
    media, what = still(rng, work, seed)
    facts = f"blip-2 {kind} image {size} patch {vision['patch_size']} queries {queries} input {what}"
    question = rng.choice(["what is in the picture?", "describe it", "which colour is the square?"])
    # load_image is how transformers opens a picture file (EXIF orientation applied, as vidlm does).
    inputs = processor(images=load_image(media), text=f"Question: {question} Answer:", return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=NEW_TOKENS, do_sample=False, output_scores=True,
                             return_dict_in_generate=True)
    want = out.sequences[0, inputs["input_ids"].shape[1]:].tolist()
    try:
        answer = run_vidlm(vidlm, media, question, work)
    except RuntimeError as error:
        return "fail", f"{facts}: vidlm: {error}"
    if answer["prompt_token_ids"] != inputs["input_ids"][0].tolist():
        return "fail", f"{facts}: prompt ids differ ({answer['prompt_token_ids']} vs {inputs['input_ids'][0].tolist()})"
    status, why = compare(want, out.scores, answer["token_ids"], config.text_config.eos_token_id)
    return status, f"{facts} {why}".strip()


def instructblipvideo_seed(rng: random.Random, seed: int, vidlm: str, work: str) -> tuple[str, str]:
    from differential_sweep import make_clip
    from torchcodec.decoders import VideoDecoder
    from transformers import (InstructBlipVideoConfig, InstructBlipVideoForConditionalGeneration,
                              InstructBlipVideoProcessor, InstructBlipVideoVideoProcessor, PreTrainedTokenizerFast)
    tok = PreTrainedTokenizerFast.from_pretrained(str(TOKENIZERS / "llama2"))
    qtok = PreTrainedTokenizerFast.from_pretrained(str(TOKENIZERS / "bert"))
    vision, qformer, size = towers(rng, len(qtok))
    qformer["pad_token_id"] = qtok.pad_token_id
    queries = rng.choice([1, 2, 3, 4])
    text = decoder(rng, tok, "llama")
    config = InstructBlipVideoConfig(vision_config=vision, qformer_config=qformer, text_config=text,
                                     num_query_tokens=queries, video_token_index=tok.convert_tokens_to_ids("<video>"))
    torch.manual_seed(rng.randrange(1 << 30))
    model = random_weights(InstructBlipVideoForConditionalGeneration(config), rng)
    processor = InstructBlipVideoProcessor(video_processor=InstructBlipVideoVideoProcessor(size={"height": size, "width": size}),
                                           tokenizer=tok, qformer_tokenizer=qtok, num_query_tokens=queries)
    model.save_pretrained(work)
    processor.save_pretrained(work)
    # Published checkpoints carry the BLIP image processor's file, which the video processor reads.
    (pathlib.Path(work) / "preprocessor_config.json").write_text(
        json.dumps({"image_processor_type": "BlipImageProcessor", "size": {"height": size, "width": size}}))
    for leftover in ("video_preprocessor_config.json", "processor_config.json"):
        (pathlib.Path(work) / leftover).unlink(missing_ok=True)
    ext = rng.choice(["mp4", "mkv", "webm", "mov", "avi"])
    media = os.path.join(work, "input." + ext)
    try:
        facts = f"instructblipvideo image {size} patch {vision['patch_size']} queries {queries} input {ext} {make_clip(rng, media, ext)}"
    except subprocess.CalledProcessError:
        return "skip", f"{ext}: ffmpeg could not write this combination"
    question = rng.choice(["what happens in the video?", "describe the clip", "what moves?"])
    try:
        answer = run_vidlm(vidlm, media, question, work)
    except RuntimeError as error:
        return "fail", f"{facts}: vidlm: {error}"
    indices = [f["index"] for f in answer["frames"]]
    if len(indices) != 4:
        return "fail", f"{facts}: vidlm sampled {len(indices)} frames, the processor's prompt has 4"
    # The frames of torchcodec's full decode (what the media sweep checks vidlm's frames against), not
    # get_frames_at: where frames share a pts, that seeks to the first frame of the pts.
    whole = VideoDecoder(media, seek_mode="exact")
    frames = whole.get_frames_in_range(0, whole.metadata.num_frames).data[indices].permute(0, 2, 3, 1).numpy()
    inputs = processor(images=[frames], text=question, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=NEW_TOKENS, do_sample=False, output_scores=True,
                             return_dict_in_generate=True)
    want = out.sequences[0].tolist()
    ids = inputs["input_ids"][0].tolist()
    want = want[len(ids):] if want[:len(ids)] == ids else want
    if answer["prompt_token_ids"] != ids:
        return "fail", f"{facts}: prompt ids differ"
    status, why = compare(want, out.scores, answer["token_ids"], config.text_config.eos_token_id)
    return status, f"{facts} frames {indices} {why}".strip()


def seed(seed: int, vidlm: str, work: str, family: str) -> tuple[str, str]:
    rng = random.Random(seed)
    family = family if family != "mixed" else rng.choice(["blip-2", "instructblipvideo"])
    torch.manual_seed(seed)
    return (blip2_seed if family == "blip-2" else instructblipvideo_seed)(rng, seed, vidlm, work)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--count", type=int, default=30)
    parser.add_argument("--family", choices=["blip-2", "instructblipvideo", "mixed"], default="mixed")
    parser.add_argument("--vidlm", default=str(ROOT / ".build" / "release" / "vidlm"))
    args = parser.parse_args()
    run_seeds(lambda s, work: seed(s, args.vidlm, work, args.family), args.first, args.count, "vidlm-sweep-blip-")


if __name__ == "__main__":
    main()
