"""Random-weight, full-size video-language models for the end-to-end benchmark, written once by
transformers' save_pretrained (safetensors) with their processors and tokenizers, so vidlm and
transformers load the very same folders:

- smolvlm2-256m-f32 / -bf16: SmolVLMForConditionalGeneration shaped like
  HuggingFaceTB/SmolVLM2-256M-Video-Instruct (SigLIP 768 x 12 layers at 512 px, patch 16,
  scale_factor 4 -> 64 tokens per frame; SmolLM2-135M decoder: 576 x 30 layers, 9 heads / 3 KV,
  vocab 49280, tied embeddings);
- smolvlm2-2.2b-f32 / -bf16: shaped like HuggingFaceTB/SmolVLM2-2.2B-Instruct (SigLIP-SO400M-like
  1152 x 27 layers at 384 px, patch 14, scale_factor 3 -> 81 tokens per frame; SmolLM2-1.7B
  decoder: 2048 x 24 layers, 32 heads / 32 KV, vocab 49280, untied);
- instructblipvideo-f32: InstructBlipVideoForConditionalGeneration with EVA ViT-g/14 (1408 x 39
  layers, 224 px), the 12-layer Q-Former (cross-attention every 2nd layer, 32 queries) and a
  TinyLlama-1.1B-shaped LLaMA decoder (2048 x 22 layers, 32 heads / 4 KV, vocab 32000).

Matrices ~ N(0, 0.02), norm weights 1, biases 0 (transformers' init for norms/biases). Each bf16
folder holds the f32 weights rounded to bf16. `eos_token_id` is null in the configs (and in
generation_config.json) so both tools generate exactly the asked number of tokens (greedy, no
stop token); nothing else differs from the published configs' shapes.

Tokenizers are trained here (no downloads): a byte-level BPE (SmolLM2's pipeline: Digits +
ByteLevel) with exactly 49280 ids whose special tokens sit where SmolVLM2's do (<|endoftext|> 0,
<|im_start|> 1, <|im_end|> 2, <global-img> 49152, <row_r_col_c> 49153..49188,
<fake_token_around_image> 49189, <image> 49190, <video> 49191, <end_of_utterance> 49279); and a
LLaMA-pipeline BPE (Metaspace-style normalizer, byte fallback, BOS by the post-processor,
retrained from Tests/Fixtures/tokenizers/llama2) with 32000 ids incl. <video> for InstructBLIP-Video;
its Q-Former tokenizer is Tests/Fixtures/tokenizers/bert (only used to encode the instruction).

    tools/.venv/bin/python benchmarks/vlm/make_models.py benchmarks/.work/vlm [names...]
"""
from __future__ import annotations

import gc
import json
import pathlib
import random
import shutil
import sys

import torch
import transformers
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    BlipImageProcessor,
    InstructBlipVideoConfig,
    InstructBlipVideoForConditionalGeneration,
    InstructBlipVideoProcessor,
    InstructBlipVideoVideoProcessor,
    PreTrainedTokenizerFast,
    SmolVLMConfig,
    SmolVLMForConditionalGeneration,
    SmolVLMImageProcessor,
    SmolVLMProcessor,
    SmolVLMVideoProcessor,
)
from transformers.image_utils import PILImageResampling
from transformers.models.smolvlm import processing_smolvlm

ROOT = pathlib.Path(__file__).resolve().parents[2]
TOKENIZERS = ROOT / "Tests" / "Fixtures" / "tokenizers"
SEED = 0

ENGLISH = """\
The quick brown fox jumps over the lazy dog. Describe the video. What is in this image?
You are provided the following series of eight frames from a 0:00:12 video. Frame from 00:05:
The camera moves slowly from left to right while the car drives past the houses on the corner.
User: Can you tell me what happens at the end of the clip? Assistant: At the end, the square disappears.
"""
SMOL_SPECIAL_TRAINED = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
SMOL_ROWS = [f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)]
SMOL_VOCAB = 49280
NAMED_TOKENS = {
    "end_of_utterance_token": "<end_of_utterance>",
    "fake_image_token": "<fake_token_around_image>",
    "global_image_token": "<global-img>",
    "image_token": "<image>",
    "video_token": "<video>",
}

SHAPES = {
    "smolvlm2-256m": dict(
        vision=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                    image_size=512, patch_size=16),
        text=dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
                  num_key_value_heads=3, max_position_embeddings=8192, rope_theta=100000.0,
                  tie_word_embeddings=True),
        scale_factor=4, tile=512, longest_edge=2048),
    "smolvlm2-2.2b": dict(
        vision=dict(hidden_size=1152, intermediate_size=4304, num_hidden_layers=27, num_attention_heads=16,
                    image_size=384, patch_size=14),
        text=dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=24, num_attention_heads=32,
                  num_key_value_heads=32, max_position_embeddings=8192, rope_theta=130000.0,
                  tie_word_embeddings=False),
        scale_factor=3, tile=384, longest_edge=1536),
}


def pseudo_text(lines: int, seed: int, paragraphs: bool = False):
    """Deterministic word-like text with enough distinct pieces for a large BPE vocabulary.
    `paragraphs`: every tenth line ends a paragraph ("\n\n"), so that becomes one token as in
    SmolLM2's vocabulary (llama.cpp's Idefics3 prompt looks that token up)."""
    rng = random.Random(seed)
    syll = [a + b for a in "bcdfghjklmnprstvwz" for b in "aeiou"] + list("aeiouy") + ["th", "sh", "ch", "ng", "qu"]
    punct = [".", ",", "?", "!", ";", ":"]
    english = ENGLISH.splitlines()
    for i in range(lines):
        words = []
        for _ in range(rng.randint(6, 16)):
            w = "".join(rng.choice(syll) for _ in range(rng.randint(1, 4)))
            if rng.random() < 0.15:
                w = w.capitalize()
            if rng.random() < 0.1:
                w += rng.choice(punct)
            if rng.random() < 0.05:
                w = str(rng.randint(0, 9999))
            words.append(w)
        line = " ".join(words)
        yield line + "\n\n" if paragraphs and i % 10 == 0 else line
        if i % 50 == 0:
            yield english[(i // 50) % len(english)]


def smolvlm_tokenizer() -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
    ])
    trainer = trainers.BpeTrainer(vocab_size=49152, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=[AddedToken(t, special=True, normalized=False)
                                                  for t in SMOL_SPECIAL_TRAINED],
                                  show_progress=False)
    tok.train_from_iterator(pseudo_text(60000, SEED, paragraphs=True), trainer)
    assert tok.get_vocab_size() == 49152, tok.get_vocab_size()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.decoder = decoders.ByteLevel()
    added = (["<global-img>"] + SMOL_ROWS + ["<fake_token_around_image>", "<image>", "<video>"]
             + [f"<|reserved_special_token_{i}|>" for i in range(SMOL_VOCAB - 49152 - 40 - 1)]
             + ["<end_of_utterance>"])
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in added])
    assert tok.get_vocab_size() == SMOL_VOCAB, tok.get_vocab_size()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|im_start|>", eos_token="<end_of_utterance>", pad_token="<|im_end|>",
        unk_token="<|endoftext|>", extra_special_tokens=dict(NAMED_TOKENS), model_max_length=8192,
        clean_up_tokenization_spaces=False)
    ids = fast.convert_tokens_to_ids
    assert (ids("<|im_start|>"), ids("<global-img>"), ids("<image>"), ids("<end_of_utterance>")) == (1, 49152, 49190, 49279)
    assert ids("\u010a\u010a") != fast.unk_token_id, "no one-token \"\\n\\n\" (llama.cpp's Idefics3 prompt needs it)"
    return fast


def llama_tokenizer() -> PreTrainedTokenizerFast:
    base = PreTrainedTokenizerFast.from_pretrained(str(TOKENIZERS / "llama2"))
    new = base.train_new_from_iterator(pseudo_text(60000, SEED + 1), vocab_size=31999)
    if new.convert_tokens_to_ids("<video>") in (None, new.unk_token_id):
        new.add_tokens([AddedToken("<video>", normalized=False, special=True)], special_tokens=True)
    assert len(new) == 32000, len(new)
    return new


def randomize(model: torch.nn.Module) -> torch.nn.Module:
    torch.manual_seed(SEED)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                p.normal_(0, 0.02)
            elif "norm" in name or "layernorm" in name.lower():
                p.fill_(1.0)
            else:
                p.zero_()
    return model.eval()


def no_eos(model) -> None:
    cfg = model.config
    for c in (cfg, getattr(cfg, "text_config", None)):
        if c is not None:
            c.eos_token_id = None
    model.generation_config.eos_token_id = None


def save_pair(model, processor, out: pathlib.Path, name: str, dtypes: list[str], extra=None) -> None:
    for dtype in ("f32", "bf16"):
        folder = out / f"{name}-{dtype}"
        if dtype not in dtypes:
            continue
        if dtype == "bf16":
            model = model.to(torch.bfloat16)
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(tmp, safe_serialization=True)
        processor.save_pretrained(tmp)
        if extra:
            extra(tmp)
        tmp.rename(folder)
        n = sum(p.numel() for p in model.parameters())
        size = sum(f.stat().st_size for f in folder.glob("*.safetensors"))
        print(f"{folder.name}: {n / 1e6:.0f} M parameters, {size / 2**30:.2f} GiB of safetensors")


def smolvlm(out: pathlib.Path, shape: str, dtypes: list[str]) -> None:
    s = SHAPES[shape]
    tok = smolvlm_tokenizer()
    ids = tok.convert_tokens_to_ids
    text = dict(model_type="llama", vocab_size=SMOL_VOCAB, rms_norm_eps=1e-5, hidden_act="silu",
                bos_token_id=ids("<|im_start|>"), eos_token_id=None, pad_token_id=ids("<|im_end|>"), **s["text"])
    vision = dict(num_channels=3, hidden_act="gelu_pytorch_tanh", layer_norm_eps=1e-6, **s["vision"])
    config = SmolVLMConfig(text_config=text, vision_config=vision, scale_factor=s["scale_factor"],
                           image_token_id=ids("<image>"), tie_word_embeddings=s["text"]["tie_word_embeddings"],
                           pad_token_id=ids("<|im_end|>"), bos_token_id=ids("<|im_start|>"), eos_token_id=None)
    tile = s["tile"]
    patches = s["vision"]["image_size"] // s["vision"]["patch_size"]
    seq = patches * patches // (s["scale_factor"] ** 2)
    common = dict(max_image_size={"longest_edge": tile}, resample=PILImageResampling.LANCZOS,
                  image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])
    processor = SmolVLMProcessor(
        image_processor=SmolVLMImageProcessor(size={"longest_edge": s["longest_edge"]}, do_image_splitting=True, **common),
        video_processor=SmolVLMVideoProcessor(
            video_sampling={"fps": 1, "max_frames": 64, "video_size": {"longest_edge": tile}},
            size={"longest_edge": tile}, do_sample_frames=True, **common),
        tokenizer=tok, image_seq_len=seq, chat_template=processing_smolvlm.DEFAULT_CHAT_TEMPLATE)
    model = randomize(SmolVLMForConditionalGeneration(config))
    no_eos(model)
    save_pair(model, processor, out, shape, dtypes)


def instructblipvideo(out: pathlib.Path, dtypes: list[str] = ["f32"]) -> None:
    tok = llama_tokenizer()
    qtok = PreTrainedTokenizerFast.from_pretrained(str(TOKENIZERS / "bert"))
    video = tok.convert_tokens_to_ids("<video>")
    config = InstructBlipVideoConfig(
        vision_config=dict(hidden_size=1408, intermediate_size=6144, num_hidden_layers=39, num_attention_heads=16,
                           image_size=224, patch_size=14, qkv_bias=True, layer_norm_eps=1e-6),
        qformer_config=dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                            cross_attention_frequency=2, encoder_hidden_size=1408, vocab_size=30523,
                            max_position_embeddings=512, pad_token_id=0),
        text_config=dict(model_type="llama", vocab_size=32000, hidden_size=2048, intermediate_size=5632,
                         num_hidden_layers=22, num_attention_heads=32, num_key_value_heads=4,
                         max_position_embeddings=2048, rms_norm_eps=1e-5, rope_theta=10000.0,
                         tie_word_embeddings=False, bos_token_id=1, eos_token_id=None, pad_token_id=0),
        num_query_tokens=32, video_token_index=video)
    processor = InstructBlipVideoProcessor(
        video_processor=InstructBlipVideoVideoProcessor(size={"height": 224, "width": 224}),
        tokenizer=tok, qformer_tokenizer=qtok, num_query_tokens=32)
    model = randomize(InstructBlipVideoForConditionalGeneration(config))
    no_eos(model)

    def extra(folder: pathlib.Path) -> None:
        # vidlm's BLIP families read the BLIP image processor settings from preprocessor_config.json.
        (folder / "preprocessor_config.json").write_text(
            BlipImageProcessor(size={"height": 224, "width": 224}).to_json_string())
        if not (folder / "qformer_tokenizer" / "tokenizer.json").exists():
            qtok.save_pretrained(folder / "qformer_tokenizer")

    save_pair(model, processor, out, "instructblipvideo", dtypes, extra)


def main(out: pathlib.Path, only: list[str]) -> None:
    transformers.logging.set_verbosity_error()
    out.mkdir(parents=True, exist_ok=True)
    wanted = only or ["smolvlm2-256m-f32", "smolvlm2-256m-bf16", "smolvlm2-2.2b-f32", "smolvlm2-2.2b-bf16",
                      "instructblipvideo-f32"]
    for shape in SHAPES:
        dtypes = [d for d in ("f32", "bf16") if f"{shape}-{d}" in wanted and not (out / f"{shape}-{d}").exists()]
        if dtypes:
            smolvlm(out, shape, dtypes)
            gc.collect()
    if "instructblipvideo-f32" in wanted and not (out / "instructblipvideo-f32").exists():
        instructblipvideo(out)


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]), sys.argv[2:])
