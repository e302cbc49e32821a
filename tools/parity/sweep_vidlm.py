"""Randomized differential check of the `vidlm` family (vidlm's own model and the Video-LLaMA layout)
against its PyTorch reference, tools/reference/vidlm_model.py:

    tools/.venv/bin/python tools/parity/sweep_vidlm.py --first 0 --count 30

Per seed: a random tiny configuration (BLIP-2/EVA or CLIP tower of random width, depth, image and patch
size; token merger none, spatial_pool k, concat_linear k or temporal tau, with or without proportional
attention; an optional image Q-Former (the Video-LLaMA layout); a video Q-Former; a frame-position table
shorter or longer than the clip; a LLaMA decoder with GQA and tied or untied embeddings; a prompt template
with or without a `{visual}` slot), random pixel values for 1-9 frames (some frames near-copies of the
previous one, so the temporal merger folds tokens), and a random question. The reference's prompt
ids, visual prefix and greedy ids must equal `vidlm ask --pixels … --json`'s (a first difference where the
reference's top-2 margin is below 1e-3 is a tie). Exits non-zero when any seed fails.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import random
import shutil
import subprocess
import sys

import torch
from safetensors.torch import save_file

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools" / "reference"))
sys.path.insert(0, str(ROOT / "tools" / "parity"))
import vidlm_model as vm  # noqa: E402
from sweep_common import greedy_verdict, random_init, run_seeds, top2_margins  # noqa: E402

TOKENIZERS = ROOT / "Tests" / "Fixtures" / "tokenizers"
NEW_TOKENS = 10


def random_config(rng: random.Random, tok) -> dict:
    patch = rng.choice([4, 8, 14])
    grid = rng.choice([2, 4, 6]) if rng.random() < 0.7 else rng.choice([3, 5])
    size = patch * grid
    dv = rng.choice([16, 32])
    clip = rng.random() < 0.3
    vision = {"model_type": "clip_vision_model" if clip else "blip_2_vision_model", "hidden_size": dv,
              "intermediate_size": 2 * dv, "num_hidden_layers": rng.choice([1, 2]),
              "num_attention_heads": rng.choice([2, 4]), "image_size": size, "patch_size": patch}
    if not clip:
        vision["qkv_bias"] = rng.random() < 0.7
    kind = rng.choice(["none", "spatial_pool", "concat_linear", "temporal"])
    merger: dict = {"type": kind}
    if kind == "spatial_pool":
        merger["k"] = rng.choice([k for k in (1, 2, 3) if grid % k == 0])
    if kind == "concat_linear":
        merger["k"] = rng.choice([k for k in (1, 4, 9) if grid % int(k ** 0.5) == 0])
        merger["out_size"] = rng.choice([24, 40])
    if kind == "temporal":
        merger["tau"] = rng.choice([0.5, 0.9, 0.99])
    if kind in ("spatial_pool", "temporal"):
        merger["proportional_attention"] = rng.random() < 0.6
    width = merger.get("out_size", dv)
    config = {"model_type": "vidlm", "architectures": ["VidLMForConditionalGeneration"], "vision_config": vision,
              "token_merger": merger}
    if kind != "temporal" and rng.random() < 0.4:
        hq = rng.choice([16, 24])
        config["qformer_config"] = {"hidden_size": hq, "num_hidden_layers": rng.choice([1, 2]), "num_attention_heads": 4,
                                    "intermediate_size": 2 * hq, "cross_attention_frequency": rng.choice([1, 2]),
                                    "encoder_hidden_size": width}
        config["num_query_tokens"] = rng.choice([2, 3])
        width = hq
    hv = rng.choice([16, 32])
    config["video_qformer_config"] = {"hidden_size": hv, "num_hidden_layers": rng.choice([1, 2]), "num_attention_heads": 4,
                                      "intermediate_size": 2 * hv, "cross_attention_frequency": 1, "encoder_hidden_size": width}
    heads = rng.choice([2, 4])
    config |= {"num_video_query_tokens": rng.choice([2, 4, 6]), "max_frame_pos": rng.choice([2, 4, 8]),
               "text_config": {"model_type": "llama", "vocab_size": len(tok), "hidden_size": 48, "intermediate_size": 96,
                               "num_hidden_layers": rng.choice([1, 2]), "num_attention_heads": heads,
                               "num_key_value_heads": rng.choice([k for k in (1, 2, heads) if heads % k == 0]),
                               "max_position_embeddings": 256, "rope_theta": rng.choice([10000.0, 500000.0]),
                               "bos_token_id": tok.bos_token_id, "eos_token_id": tok.eos_token_id,
                               "tie_word_embeddings": rng.random() < 0.4},
               "num_frames": 4,
               "prompt_template": rng.choice(["question: {question} answer:", "Q: {question}\nA:",
                                              "[INST] <Video>{visual}</Video> {question} [/INST]"]),
               "caption_question": "what happens?"}
    return config


def seed(seed: int, vidlm: str, work: str) -> tuple[str, str]:
    from transformers import PreTrainedTokenizerFast
    rng = random.Random(seed)
    torch.manual_seed(seed)
    tok = PreTrainedTokenizerFast.from_pretrained(str(TOKENIZERS / "llama2"))
    config = random_config(rng, tok)
    model = random_init(vm.VidLMForConditionalGeneration(config), rng.randrange(1 << 30), 0.3)
    folder = pathlib.Path(work)
    (folder / "config.json").write_text(json.dumps(config, indent=1))
    save_file({k: v.contiguous() for k, v in model.export_state_dict().items()}, str(folder / "model.safetensors"))
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(TOKENIZERS / "llama2" / name, folder / name)
    frames = rng.randrange(1, 10)
    size = config["vision_config"]["image_size"]
    pixels = torch.randn(frames, 3, size, size)
    for t in range(1, frames):
        if rng.random() < 0.4:
            pixels[t] = pixels[t - 1] + 0.01 * torch.randn_like(pixels[t])
    save_file({"pixel_values": pixels}, str(folder / "pixels.safetensors"))
    question = rng.choice(["what happens?", "which shape moves first", "Describe the clip in detail."])
    facts = (f"{config['vision_config']['model_type']} {size}px/{config['vision_config']['patch_size']} "
             f"merger {config['token_merger']} image-qformer {'qformer_config' in config} "
             f"frames {frames} max_frame_pos {config['max_frame_pos']} template {config['prompt_template']!r}")
    with torch.no_grad():
        stages = model.visual_prefix(model.vision_features(pixels))
        before, after = model.prompt_parts(question)
        before_ids = tok(before, add_special_tokens=False).input_ids if before else None
        after_ids = tok(after, add_special_tokens=False).input_ids
        embeds = model.input_embeddings(stages["prefix"], after_ids, before_ids)
        eos = config["text_config"]["eos_token_id"]
        out = model.language_model.generate(inputs_embeds=embeds, max_new_tokens=NEW_TOKENS, do_sample=False,
                                            eos_token_id=eos, pad_token_id=eos, output_scores=True,
                                            return_dict_in_generate=True)
    want = out.sequences[0].tolist()
    want = want[:want.index(eos)] if eos in want else want
    r = subprocess.run([vidlm, "ask", "--pixels", str(folder / "pixels.safetensors"), question, "--model", work, "--json",
                        "--max-tokens", str(NEW_TOKENS)], capture_output=True, text=True)
    if r.returncode:
        return "fail", f"{facts}: vidlm: {r.stderr.strip()}"
    answer = json.loads(r.stdout)
    visual = stages["prefix"].shape[1]
    expected_prompt = [config["text_config"]["bos_token_id"]] + (before_ids or []) + [-1] * visual + after_ids
    if answer["prompt_token_ids"] != expected_prompt:
        return "fail", f"{facts}: prompt ids differ ({answer['prompt_token_ids']} vs {expected_prompt})"
    status, why = greedy_verdict(answer["token_ids"], want, top2_margins(out.scores))
    return status, f"{facts}: {why}" if why else facts


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--count", type=int, default=30)
    parser.add_argument("--vidlm", default=str(ROOT / ".build" / "release" / "vidlm"))
    args = parser.parse_args()
    run_seeds(lambda s, work: seed(s, args.vidlm, work), args.first, args.count, "vidlm-sweep-vidlm-")


if __name__ == "__main__":
    main()
