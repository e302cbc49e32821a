"""Train the embedded default model `vidlm-shapes` on the synthetic shapes world (tools/synth).

    tools/.venv/bin/python tools/train/train.py --out models/vidlm-shapes     # or tools/train/recipe.sh

The defaults are the shipped model: one run from nothing in about 56 minutes on 2 CPU cores
(stage 1, stage 1c with directions, stage 2 on the frozen Q-Former's cached outputs; 45 000 clips,
6 500 stage-2 steps): held-out caption 91.3 %, QA 96.6 %, stills 100 %. The other switches (stage
1b, auxiliary heads, unfrozen stage 2, --init-from) are how the earlier seven-run lineage was
trained; models/vidlm-shapes/MODEL_CARD.md tells that history.

Seeded and reproducible on CPU (2 threads). Steps:
 1. a byte-level BPE tokenizer on the world's text;
 2. training clips / stills rendered by tools/synth and passed through libx264 yuv420p (one long
    stream per chunk, a forced keyframe at every clip start, decoded once), frames sampled with the
    engine's rule floor((i + 0.5) * N / 8);
 3. the model is tools/reference/vidlm_model.py's VidLMForConditionalGeneration; the training
    forward is batched (vision over B*T frames, spatial pooling over all frames, the Q-Former over
    B clips with the log-count mask repeated) and is checked against the module's per-clip path;
 4. stage 1 (--vision-steps): the vision tower alone, on single frames, learns per-patch labels
    (shape kind + colour or background) and per-frame attributes (colour of each kind, position,
    size) through training-only heads (AuxHeads, not exported);
 4b. stage 1b (--event-steps, run 4): the video Q-Former alone learns each shape kind's event
    (direction of motion included) and timing from cached merged tokens, batches of 64 clips;
 4c. stage 1c (--scene-steps; the key stage of both recipes): the video Q-Former alone learns
    the scene table of every clip and still (colour before/after, event, timing of each shape
    kind; --scene-directions adds each moving shape's direction) from cached merged tokens;
    --scene-head pooled reads it by attention pooling, the way the decoder reads its prefix;
 5. stage 2 (--steps): the whole model, all but the vision tower (--freeze-vision), or only the
    projection and decoder on cached Q-Former outputs (--freeze-qformer, the default); the language
    loss is on the answer tokens and EOS only, mixing clip captions, clip QA, still captions and
    still QA; with --aux-weight > 0 (earlier runs, unfrozen) auxiliary heads also supervise the
    vision features and the Q-Former output for the first --aux-until share of the steps;
 6. writes config.json, model.safetensors, tokenizer.json, tokenizer_config.json,
    preprocessor_config.json, loss.svg, train_log.json into --out.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools", "synth"))
sys.path.insert(0, os.path.join(ROOT, "tools", "reference"))
import codec  # noqa: E402
import vidlm_model as vm  # noqa: E402
import world  # noqa: E402

NUM_FRAMES = 8
PROMPT_TEMPLATE = vm.DEFAULT_PROMPT_TEMPLATE      # "question: {question} answer:"
CAPTION_QUESTION = vm.DEFAULT_CAPTION_QUESTION    # "what happens?"

PREPROCESSOR = {"image_processor_type": "BlipImageProcessor", "do_resize": True, "size": {"height": 64, "width": 64},
                "resample": 3, "do_rescale": True, "rescale_factor": 0.00392156862745098, "do_normalize": True,
                "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "do_convert_rgb": True}


# ---------------------------------------------------------------------------------------------
# tokenizer
# ---------------------------------------------------------------------------------------------

def train_tokenizer(seed: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    lines = world.corpus(seed=seed)
    lines += [PROMPT_TEMPLATE.format(question=q) for q in world.CAPTION_QUESTIONS]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1024, min_frequency=2, special_tokens=["<pad>", "<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    # answers are tokenized as " " + answer: train on both forms
    tok.train_from_iterator(lines + [" " + line for line in lines], trainer=trainer)
    return tok


def tokenizer_config() -> dict:
    return {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>",
            "pad_token": "<pad>", "add_bos_token": False, "add_eos_token": False,
            "model_max_length": 128, "clean_up_tokenization_spaces": False}


# ---------------------------------------------------------------------------------------------
# model
# ---------------------------------------------------------------------------------------------

def model_config(vocab_size: int, bos: int, eos: int, pad: int, size: str = "base") -> dict:
    dims = {"base": dict(vw=96, vl=3, qw=128, tw=192, tl=4, ti=512)}[size]
    return {
        "model_type": "vidlm", "architectures": ["VidLMForConditionalGeneration"],
        "vision_config": {"model_type": "blip_2_vision_model", "hidden_size": dims["vw"],
                          "intermediate_size": 4 * dims["vw"], "num_hidden_layers": dims["vl"],
                          "num_attention_heads": 4, "image_size": 64, "patch_size": 8, "num_channels": 3,
                          "hidden_act": "gelu", "layer_norm_eps": 1e-6, "attention_dropout": 0.0, "qkv_bias": True,
                          "initializer_range": 0.02},
        "token_merger": {"type": "spatial_pool", "k": 2, "proportional_attention": True},
        "video_qformer_config": {"model_type": "blip_2_qformer", "hidden_size": dims["qw"], "num_hidden_layers": 2,
                                 "num_attention_heads": 4, "intermediate_size": 4 * dims["qw"],
                                 "hidden_act": "gelu", "hidden_dropout_prob": 0.0,
                                 "attention_probs_dropout_prob": 0.0, "layer_norm_eps": 1e-12,
                                 "cross_attention_frequency": 1, "encoder_hidden_size": dims["vw"],
                                 "use_qformer_text_input": False},
        "num_video_query_tokens": 16, "max_frame_pos": 16,
        "text_config": {"model_type": "llama", "vocab_size": vocab_size, "hidden_size": dims["tw"],
                        "intermediate_size": dims["ti"], "num_hidden_layers": dims["tl"], "num_attention_heads": 4,
                        "num_key_value_heads": 4, "head_dim": dims["tw"] // 4, "hidden_act": "silu",
                        "max_position_embeddings": 128, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
                        "attention_bias": False, "mlp_bias": False, "tie_word_embeddings": True,
                        "bos_token_id": bos, "eos_token_id": eos, "pad_token_id": pad},
        "num_frames": NUM_FRAMES,
        "prompt_template": PROMPT_TEMPLATE, "caption_question": CAPTION_QUESTION,
    }


def to_pixels(frames: np.ndarray) -> torch.Tensor:
    """uint8 [..., 64, 64, 3] → float [..., 3, 64, 64]: rescale 1/255, normalize mean/std 0.5."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).float() * (1.0 / 255.0)
    x = (x - 0.5) / 0.5
    return x.movedim(-1, -3)


def batched_prefix(model, pixels: torch.Tensor, extras: bool = False):
    """pixels [B, T, 3, 64, 64] (same T for the batch) → visual prefix [B, Qv, D], the module's
    per-clip math (vision per frame, spatial pool per frame, frame rows 0..T-1, Q-Former) batched.
    extras=True also returns the vision features [B*T, N, Dv] and the Q-Former output [B, Qv, H]
    (for the auxiliary heads)."""
    b, t = pixels.shape[:2]
    feats = model.vision_features(pixels.reshape(b * t, *pixels.shape[2:]))       # [B*T, N, Dv]
    merged = model.merger(feats)
    tokens = merged.tokens.reshape(b, t, -1, merged.tokens.shape[-1])
    mask = None
    if merged.counts is not None and model.merger.proportional_attention:
        # the spatial pool gives every clip the same counts: one row serves the batch
        mask = torch.log(merged.counts[:t].float()).reshape(1, 1, -1)
    hidden = qformer_on_tokens(model, tokens, mask)
    prefix = model.llama_proj(hidden)
    return (prefix, feats, hidden) if extras else prefix


def batched_lm(model, prefix: torch.Tensor, owner: list[int], prompts: list[list[int]], answers: list[list[int]],
               pad: int):
    """Decoder inputs BOS + prefix[owner[i]] + prompt_i + answer_i (answer_i ends with EOS),
    right-padded. Returns logits [S, L, V], labels [S, L] (-100 outside the answers)."""
    embed = model.language_model.get_input_embeddings()
    s = len(prompts)
    texts = [p + a for p, a in zip(prompts, answers)]
    width = max(len(x) for x in texts)
    ids = torch.full((s, width), pad, dtype=torch.long)
    mask = torch.zeros((s, 1 + prefix.shape[1] + width), dtype=torch.long)
    labels = torch.full((s, 1 + prefix.shape[1] + width), -100, dtype=torch.long)
    q = 1 + prefix.shape[1]
    for i, (p, a) in enumerate(zip(prompts, answers)):
        ids[i, :len(p) + len(a)] = torch.tensor(p + a)
        mask[i, :q + len(p) + len(a)] = 1
        labels[i, q + len(p):q + len(p) + len(a)] = torch.tensor(a)
    bos = embed(torch.full((s, 1), model.text_config.bos_token_id, dtype=torch.long))
    pre = prefix[torch.tensor(owner, dtype=torch.long)]
    inputs = torch.cat([bos, pre, embed(ids)], dim=1)
    logits = model.language_model(inputs_embeds=inputs, attention_mask=mask).logits
    return logits, labels


def lm_loss(logits, labels):
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=-100)


@torch.no_grad()
def check_batched(model, tok, clips: list[np.ndarray], pad: int) -> float:
    """Max |batched logits - per-clip module logits| over a few clips (same T within the list)."""
    model.eval()
    texts = [(CAPTION_QUESTION, "the red circle moves left."), ("what colour is the square?", "blue"),
             ("describe the clip.", "the red circle and the blue square move toward each other.")]
    prompts = [tok.encode(PROMPT_TEMPLATE.format(question=texts[i % 3][0])).ids for i in range(len(clips))]
    answers = [tok.encode(" " + texts[i % 3][1]).ids + [model.text_config.eos_token_id] for i in range(len(clips))]
    pix = torch.stack([to_pixels(c) for c in clips])
    prefix = batched_prefix(model, pix)
    logits, _ = batched_lm(model, prefix, list(range(len(clips))), prompts, answers, pad)
    worst = 0.0
    for i, c in enumerate(clips):
        ref_prefix = model.visual_prefix(model.vision_features(to_pixels(c)))["prefix"]
        emb = model.input_embeddings(ref_prefix, prompts[i] + answers[i])
        ref = model.language_model(inputs_embeds=emb).logits[0]
        worst = max(worst, float((ref - logits[i, :ref.shape[0]]).abs().max()))
    model.train()
    return worst


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------

CRFS = [16, 20, 23, 26, 28]


def make_data(seed: int, n_clips: int, n_stills: int, chunk: int = 1000):
    """Training scenes and their decoded, sampled frames (uint8)."""
    rng = random.Random(seed)
    clips, clip_frames = [], np.empty((n_clips, NUM_FRAMES, 64, 64, 3), np.uint8)
    clip_aux, still_aux = new_aux(n_clips, NUM_FRAMES), new_aux(n_stills, 1)
    for start in range(0, n_clips, chunk):
        scenes = [world.sample_clip(rng) for _ in range(min(chunk, n_clips - start))]
        decoded = codec.roundtrip_many([world.render(s) for s in scenes], crf=rng.choice(CRFS))
        for j, (sc, fr) in enumerate(zip(scenes, decoded)):
            idx = world.sample_indices(len(fr), NUM_FRAMES)
            clip_frames[start + j] = fr[idx]
            aux_targets(sc, idx, clip_aux, start + j)
        clips += scenes
    stills = [world.sample_still(rng) for _ in range(n_stills)]
    raw = [world.render(s) for s in stills]
    # stills: half exact (PNG), half through the codec (a frame grabbed from a video)
    decoded = codec.roundtrip_many(raw, crf=23)
    still_frames = np.stack([(r if i % 2 == 0 else d)[0] for i, (r, d) in enumerate(zip(raw, decoded))])
    for i, sc in enumerate(stills):
        aux_targets(sc, [0], still_aux, i)
    return clips, clip_frames, clip_aux, stills, still_frames, still_aux


# Auxiliary (training-only, not exported) supervision that gets the from-scratch vision tower and
# Q-Former grounded quickly; its weight goes to 0 halfway through training, so the last part of
# training optimises the answer loss alone.
AUX_EVENTS = ["absent", "still", "move left", "move right", "move up", "move down", "grow", "shrink", "appear",
              "disappear", "recolour", "toward", "away"]
AUX_PHASES = ["absent", "whole", "first", "second"]
NK, NC = len(world.SHAPES), len(world.COLOUR_NAMES) + 1
# (row, column) of each of the 8×8 patches, scaled to [0, 1]
PATCH_GRID = torch.tensor([[(p // 8) / 7.0, (p % 8) / 7.0] for p in range(64)])[None]


def new_aux(n, t):
    return {"colour": np.zeros((n, t, NK), np.int64), "pos": np.zeros((n, t, NK, 3), np.float32),
            "patch": np.zeros((n, t, 64), np.int64),
            "event": np.zeros((n, NK), np.int64), "phase": np.zeros((n, NK), np.int64),
            "colour0": np.zeros((n, NK), np.int64), "colour1": np.zeros((n, NK), np.int64),
            "direction": np.zeros((n, NK), np.int64)}


def aux_targets(scene, indices, aux, row):
    n = scene["frames"]
    for sh in scene["shapes"]:
        k = world.SHAPES.index(sh.kind)
        ev = sh.event if sh.event != "move" else "move " + sh.detail["dir"]
        aux["event"][row, k] = AUX_EVENTS.index(ev)
        aux["phase"][row, k] = {(0.0, 1.0): 1, (0.0, 0.5): 2, (0.5, 1.0): 3}[tuple(sh.window)]
        # the kind's colour before and after its event (they differ only when it changes colour)
        aux["colour0"][row, k] = 1 + world.COLOUR_NAMES.index(sh.colour)
        aux["colour1"][row, k] = 1 + world.COLOUR_NAMES.index(sh.colour1)
        # which way it moves, also when it moves toward / away from another shape ("which way does
        # the circle move?" is asked of those too)
        if sh.event in ("move", "toward", "away"):
            aux["direction"][row, k] = 1 + list(world.DIRECTIONS).index(sh.direction())
    for t, f in enumerate(indices):
        best = np.full(64, 0.3, np.float32)          # a patch is labelled by the shape covering >30 % of it
        for sh in scene["shapes"]:
            k = world.SHAPES.index(sh.kind)
            visible, x, y, size, colour = sh.state(f / max(n - 1, 1))
            if visible:
                aux["colour"][row, t, k] = 1 + world.COLOUR_NAMES.index(colour)
                aux["pos"][row, t, k] = (x / 64.0, y / 64.0, size / 12.0)
                cover = world._mask(sh.kind, x, y, size).reshape(8, 8, 8, 8).mean(axis=(1, 3)).reshape(64)
                win = cover > best
                aux["patch"][row, t][win] = 1 + k * (NC - 1) + world.COLOUR_NAMES.index(colour)
                best = np.maximum(best, cover)


def optimise(opt, params, loss, lr, step, steps, warmup):
    """One step of a pretraining stage: gradients clipped to norm 1, linear warm-up then cosine to
    half the rate."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    for g in opt.param_groups:
        g["lr"] = lr * min(1.0, (step + 1) / warmup) * (0.5 + 0.5 * math.cos(math.pi * step / steps))
    opt.step()


def pretrain_vision(model, heads, clip_frames, clip_aux, still_frames, still_aux, steps, batch, lr, rng, log):
    """Stage 1: the vision tower alone learns per-frame attributes (colour of each shape kind or
    absent, position and size) from single frames of the training clips and stills."""
    params = (list(model.vision_model.parameters()) + list(heads.frame.parameters()) + list(heads.patch.parameters())
              + (list(heads.patch_pos.parameters()) if heads.patch_pos is not None else []))
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    n_c, n_s = len(clip_frames), len(still_frames)
    for step in range(steps):
        frames, colour, pos, patch = [], [], [], []
        for _ in range(batch):
            if rng.random() < 0.5:
                i, t = rng.randrange(n_c), rng.randrange(NUM_FRAMES)
                frames.append(clip_frames[i, t]); colour.append(clip_aux["colour"][i, t]); pos.append(clip_aux["pos"][i, t])
                patch.append(clip_aux["patch"][i, t])
            else:
                i = rng.randrange(n_s)
                frames.append(still_frames[i]); colour.append(still_aux["colour"][i, 0]); pos.append(still_aux["pos"][i, 0])
                patch.append(still_aux["patch"][i, 0])
        feats = model.vision_features(to_pixels(np.stack(frames)))
        loss, acc = heads.frame_loss(feats, torch.from_numpy(np.stack(colour))[:, None],
                                     torch.from_numpy(np.stack(pos))[:, None], torch.from_numpy(np.stack(patch))[:, None])
        optimise(opt, params, loss, lr, step, steps, warmup=100)
        if step % 100 == 0 or step == steps - 1:
            log(f"vision step {step:5d} loss {loss.item():.4f} colour-per-kind acc {acc:.3f}")


@torch.no_grad()
def merged_clip_tokens(model, clip_frames, chunk=64):
    """Merged tokens of every training clip with the (frozen) vision tower: [N, T, L, Dv] and the
    proportional-attention mask [1, 1, T*L] (the same for every clip with the spatial pool)."""
    out, counts = [], None
    for start in range(0, len(clip_frames), chunk):
        pix = to_pixels(clip_frames[start:start + chunk])
        b, t = pix.shape[:2]
        merged = model.merger(model.vision_features(pix.reshape(b * t, *pix.shape[2:])))
        out.append(merged.tokens.reshape(b, t, -1, merged.tokens.shape[-1]))
        counts = merged.counts
    mask = None
    if counts is not None and model.merger.proportional_attention:
        mask = torch.log(counts[:clip_frames.shape[1]].float()).reshape(1, 1, -1)
    return torch.cat(out), mask


def qformer_on_tokens(model, tokens, mask):
    """The video Q-Former output [B, Qv, H] for merged tokens [B, T, L, Dv] of frames 0..T-1 (the
    mask [1, 1, T*L] or None, as merged_clip_tokens returns it)."""
    b, t = tokens.shape[:2]
    rows = model.frame_position_rows(list(range(t)))
    seq = (tokens + rows[None, :, None, :]).reshape(b, -1, tokens.shape[-1])
    return model.video_Qformer(query_embeds=model.video_query_tokens.expand(b, -1, -1), encoder_hidden_states=seq,
                               encoder_attention_mask=None if mask is None else mask[:, None].expand(b, 1, 1, -1)
                               ).last_hidden_state


def pretrain_scene(model, heads, clip_frames, clip_aux, still_frames, still_aux, steps, batch, lr, rng, log,
                   held_clips=512, held_stills=256):
    """Stage 1c (runs 5-7): the video Q-Former (queries, frame positions) alone learns the whole scene
    table of each clip and still: for every shape kind its colour before and after, its event
    (direction of motion included), the event's timing and (--scene-directions) its direction also
    when it moves toward / away from another shape, read from the query outputs by heads.scene
    (--scene-head). Every caption and answer of the world is a function of that table, so a Q-Former that
    gets it right leaves the decoder only the wording to learn (stage 2 with --freeze-qformer).
    The last `held_clips` clips and `held_stills` stills are kept out and scored every 500 steps."""
    t0 = time.time()
    clip_tokens, clip_mask = merged_clip_tokens(model, clip_frames)
    still_tokens, still_mask = merged_clip_tokens(model, still_frames[:, None])
    log(f"scene stage: merged tokens {tuple(clip_tokens.shape)} + {tuple(still_tokens.shape)} in {time.time() - t0:.0f} s")
    # (small smoke-test data sets keep a tenth out instead)
    held_clips, held_stills = min(held_clips, len(clip_tokens) // 10), min(held_stills, len(still_tokens) // 10)
    n_c, n_s = len(clip_tokens) - held_clips, len(still_tokens) - held_stills
    params = (list(model.video_Qformer.parameters()) + [model.video_query_tokens]
              + list(model.video_frame_position_embedding.parameters())
              + [p for n, p in heads.named_parameters() if n.startswith("scene")])
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    still_batch = max(1, batch // 4)

    @torch.no_grad()
    def held_out():
        scores = []
        for tokens, mask, aux, lo in ((clip_tokens, clip_mask, clip_aux, n_c), (still_tokens, still_mask, still_aux, n_s)):
            rows = list(range(lo, len(tokens)))
            _, m = heads.scene_loss(qformer_on_tokens(model, tokens[rows], mask), aux, rows)
            scores.append(m)
        c, st = scores
        return (f"held-out clips: table {c['table']:.3f} event {c['event']:.3f} moving {c['moving']:.3f} "
                f"phase {c['phase']:.3f} colours {c['colours']:.3f}; stills: table {st['table']:.3f}")

    for step in range(steps):
        ci = [rng.randrange(n_c) for _ in range(batch)]
        si = [rng.randrange(n_s) for _ in range(still_batch)]
        loss_c, m = heads.scene_loss(qformer_on_tokens(model, clip_tokens[ci], clip_mask), clip_aux, ci)
        loss_s, _ = heads.scene_loss(qformer_on_tokens(model, still_tokens[si], still_mask), still_aux, si)
        optimise(opt, params, loss_c + 0.25 * loss_s, lr, step, steps, warmup=50)
        if step % 100 == 0 or step == steps - 1:
            log(f"scene step {step:5d} loss {loss_c.item():.4f} batch table {m['table']:.3f} moving {m['moving']:.3f}")
        if step % 500 == 0 or step == steps - 1:
            log("  " + held_out())


@torch.no_grad()
def cached_qformer_outputs(model, clip_frames, still_frames, chunk=256):
    """Q-Former outputs of every training clip and still with the vision tower and Q-Former frozen
    (stage 2 with --freeze-qformer trains only the projection and the decoder on them)."""
    out = []
    for frames in (clip_frames, still_frames[:, None]):
        tokens, mask = merged_clip_tokens(model, frames)
        out.append(torch.cat([qformer_on_tokens(model, tokens[i:i + chunk], mask) for i in range(0, len(tokens), chunk)]))
    return out


def pretrain_events(model, heads, clip_frames, clip_aux, steps, batch, lr, rng, log):
    """Stage 1b: the video Q-Former (queries, frame positions) alone learns each shape kind's event
    and timing from cached merged tokens, through the flattened-query event head. Large batches of
    clips are cheap here (no vision tower, no decoder): stage 2's few moving clips per step did
    not teach the Q-Former which way a shape moves."""
    t0 = time.time()
    tokens, mask = merged_clip_tokens(model, clip_frames)
    log(f"event stage: merged tokens {tuple(tokens.shape)} in {time.time() - t0:.0f} s")
    params = (list(model.video_Qformer.parameters()) + [model.video_query_tokens]
              + list(model.video_frame_position_embedding.parameters()) + list(heads.events.parameters()))
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    hits = []
    for step in range(steps):
        idx = [rng.randrange(len(tokens)) for _ in range(batch)]
        loss, acc = heads.event_loss(qformer_on_tokens(model, tokens[idx], mask), clip_aux, idx)
        optimise(opt, params, loss, lr, step, steps, warmup=50)
        hits.append(acc)
        if step % 100 == 0 or step == steps - 1:
            recent = [h for h in hits[-100:] if h == h]
            log(f"event step {step:5d} loss {loss.item():.4f} moving-kind event acc (last 100 steps) "
                f"{np.mean(recent) if recent else float('nan'):.3f}")


class AuxHeads(torch.nn.Module):
    def __init__(self, dv, hq, patch_pos_weight=10.0, num_queries=16, event_head=False, scene_head="",
                 scene_directions=False):
        super().__init__()
        self.frame = torch.nn.Linear(2 * dv, NK * NC + NK * 3)
        self.patch = torch.nn.Linear(dv, 1 + NK * (NC - 1))
        # each patch token regresses its own grid coordinates: without this the tokens keep too little
        # of where they are for the Q-Former to tell which way a shape moves (a linear probe on the
        # first shipped model's merged tokens recovered the column with R² 0.35)
        # (created only when used, so that --patch-pos-weight 0 reproduces runs made before it existed)
        self.patch_pos_weight = patch_pos_weight
        self.patch_pos = torch.nn.Linear(dv, 2) if patch_pos_weight > 0 else None
        self.clip = torch.nn.Linear(hq, NK * (len(AUX_EVENTS) + len(AUX_PHASES)))
        # the event of each shape kind (direction of motion included) and its timing, read from every
        # query output separately: run 3's model kept no direction in its Q-Former output (a linear
        # probe on the 16 flattened query outputs: 29 % on 4 directions), although its merged tokens
        # hold it (a fresh Q-Former trained on them alone reaches 99 %). The mean over queries (`clip`)
        # did not pull it out. (Created only when used, so earlier runs reproduce.)
        self.events = torch.nn.Linear(num_queries * hq, NK * (len(AUX_EVENTS) + len(AUX_PHASES))) if event_head else None
        # the whole scene table (colour before / after, event, timing, optionally direction of each kind)
        # for stage 1c, created only when used. scene_head "flat" (run 5): one linear map of the flattened query outputs. Its weights are
        # specific to each query token, which the decoder cannot copy (its attention reads every prefix
        # token through the same value projection): run 5's Q-Former got 99 % of held-out directions
        # through this head and its decoder said only 13 of 32 right. "pooled" (run 6) reads the queries
        # the way the decoder can: attention with a learned query per shape kind over the 16 outputs.
        fields = 2 * NC + len(AUX_EVENTS) + len(AUX_PHASES) + (1 + len(world.DIRECTIONS) if scene_directions else 0)
        self.scene = torch.nn.Linear(num_queries * hq, NK * fields) if scene_head == "flat" else None
        if scene_head == "pooled":
            self.scene_queries = torch.nn.Parameter(torch.randn(NK, hq) * 0.02)
            self.scene_attention = torch.nn.MultiheadAttention(hq, 4, batch_first=True)
            self.scene = torch.nn.Linear(NK * hq, NK * fields)
        self.scene_head = scene_head

    def frame_loss(self, feats, colour, pos, patch):
        """feats [B*T, N, Dv]; colour [B, T, NK] (0 = absent); pos [B, T, NK, 3]; patch [B, T, 64]."""
        b, t = colour.shape[:2]
        dense = F.cross_entropy(self.patch(feats[:, 1:]).reshape(-1, 1 + NK * (NC - 1)), patch.reshape(-1))
        if self.patch_pos is not None:
            grid = PATCH_GRID.expand(feats.shape[0], -1, -1)
            dense = dense + self.patch_pos_weight * F.mse_loss(self.patch_pos(feats[:, 1:]), grid)
        pooled = torch.cat([feats[:, 0], feats[:, 1:].mean(1)], -1)
        fo = self.frame(pooled).reshape(b, t, NK, NC + 3)
        loss = F.cross_entropy(fo[..., :NC].reshape(-1, NC), colour.reshape(-1))
        present = (colour > 0).float()[..., None]
        loss = loss + 10.0 * ((fo[..., NC:] - pos) ** 2 * present).sum() / present.sum().clamp_min(1) / 3
        acc = float((fo[..., :NC].argmax(-1) == colour).float().mean())
        return loss + dense, acc

    def loss(self, feats, hidden, aux, rows):
        b = hidden.shape[0]
        loss, _ = self.frame_loss(feats, torch.from_numpy(aux["colour"][rows]), torch.from_numpy(aux["pos"][rows]),
                                  torch.from_numpy(aux["patch"][rows]))
        co = self.clip(hidden.mean(1)).reshape(b, NK, -1)
        ne = len(AUX_EVENTS)
        loss = loss + F.cross_entropy(co[..., :ne].reshape(-1, ne), torch.from_numpy(aux["event"][rows]).reshape(-1))
        loss = loss + F.cross_entropy(co[..., ne:].reshape(-1, len(AUX_PHASES)),
                                      torch.from_numpy(aux["phase"][rows]).reshape(-1))
        return loss

    def scene_loss(self, hidden, aux, rows):
        """The scene table from the query outputs [B, Qv, H] (flattened, or attention-pooled per kind):
        (loss, metrics)."""
        b = hidden.shape[0]
        if self.scene_head == "pooled":
            pooled, _ = self.scene_attention(self.scene_queries.expand(b, -1, -1), hidden, hidden, need_weights=False)
            return scene_loss_of(self.scene(pooled.reshape(b, -1)).reshape(b, NK, -1), aux, rows)
        return scene_loss_of(self.scene(hidden.reshape(b, -1)).reshape(b, NK, -1), aux, rows)

    def event_loss(self, hidden, aux, rows):
        """Clip-level event and phase of each shape kind from the flattened query outputs [B, Qv, H];
        returns (loss, accuracy of the event of the kinds that move)."""
        b = hidden.shape[0]
        co = self.events(hidden.reshape(b, -1)).reshape(b, NK, -1)
        ne = len(AUX_EVENTS)
        event = torch.from_numpy(aux["event"][rows])
        loss = F.cross_entropy(co[..., :ne].reshape(-1, ne), event.reshape(-1))
        loss = loss + F.cross_entropy(co[..., ne:].reshape(-1, len(AUX_PHASES)),
                                      torch.from_numpy(aux["phase"][rows]).reshape(-1))
        moving = (event >= AUX_EVENTS.index("move left")) & (event <= AUX_EVENTS.index("move down"))
        hits = (co[..., :ne].argmax(-1) == event)[moving]
        return loss, (float(hits.float().mean()) if hits.numel() else float("nan"))


def scene_loss_of(logits, aux, rows):
    """Cross-entropy of the scene table logits [B, NK, 2*NC + NE + NP (+ 5 directions)] and how much of it is right:
    table (every field of every kind of a clip), event, moving (the event of kinds that move),
    phase, colours (both colours)."""
    ne = len(AUX_EVENTS)
    np_ = len(AUX_PHASES)
    parts = {"colour0": logits[..., :NC], "colour1": logits[..., NC:2 * NC], "event": logits[..., 2 * NC:2 * NC + ne],
             "phase": logits[..., 2 * NC + ne:2 * NC + ne + np_]}
    if logits.shape[-1] > 2 * NC + ne + np_:     # --scene-directions
        parts["direction"] = logits[..., 2 * NC + ne + np_:]
    loss, right = 0.0, {}
    for name, lg in parts.items():
        target = torch.from_numpy(aux[name][rows])
        loss = loss + F.cross_entropy(lg.reshape(-1, lg.shape[-1]), target.reshape(-1))
        right[name] = lg.argmax(-1) == target
    event = torch.from_numpy(aux["event"][rows])
    moving = (event >= AUX_EVENTS.index("move left")) & (event <= AUX_EVENTS.index("move down"))
    table = torch.stack(list(right.values())).all(0).all(-1)
    metrics = {"table": float(table.float().mean()), "event": float(right["event"].float().mean()),
               "moving": float(right["event"][moving].float().mean()) if moving.any() else float("nan"),
               "phase": float(right["phase"].float().mean()),
               "colours": float((right["colour0"] & right["colour1"]).float().mean())}
    return loss, metrics


def sample_question(scene, rng: random.Random, caption_p: float):
    if rng.random() < caption_p:
        return rng.choice(world.CAPTION_QUESTIONS), world.caption(scene)
    return rng.choice(world.qa_pairs(scene, rng))


# ---------------------------------------------------------------------------------------------
# plots / files
# ---------------------------------------------------------------------------------------------

def loss_svg(steps, losses, path, title):
    w, h, m = 640, 360, 48
    ys = [math.log10(max(l, 1e-4)) for l in losses]
    lo, hi = math.floor(min(ys)), math.ceil(max(ys))
    hi = max(hi, lo + 1)
    sx = lambda s: m + (w - 2 * m) * s / max(steps[-1], 1)
    sy = lambda y: h - m - (h - 2 * m) * (y - lo) / (hi - lo)
    pts = " ".join(f"{sx(s):.1f},{sy(y):.1f}" for s, y in zip(steps, ys))
    grid = "".join(f'<line x1="{m}" x2="{w - m}" y1="{sy(v):.1f}" y2="{sy(v):.1f}" stroke="#ddd"/>'
                   f'<text x="{m - 6}" y="{sy(v) + 4:.1f}" font-size="11" text-anchor="end">1e{v}</text>'
                   for v in range(lo, hi + 1))
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif">'
           f'<rect width="{w}" height="{h}" fill="white"/>{grid}'
           f'<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="{pts}"/>'
           f'<text x="{w / 2}" y="20" font-size="13" text-anchor="middle">{title}</text>'
           f'<text x="{w / 2}" y="{h - 12}" font-size="11" text-anchor="middle">step (0 .. {steps[-1]})</text>'
           f'<text x="14" y="{h / 2}" font-size="11" transform="rotate(-90 14 {h / 2})" text-anchor="middle">'
           f'train loss (answer tokens, log scale)</text></svg>')
    with open(path, "w") as f:
        f.write(svg)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # required, so that a run never overwrites the shipped models/vidlm-shapes by accident
    ap.add_argument("--out", required=True, help="folder to write the model into")
    ap.add_argument("--seed", type=int, default=2468)
    ap.add_argument("--clips", type=int, default=45000)
    ap.add_argument("--stills", type=int, default=5000)
    ap.add_argument("--steps", type=int, default=6500, help="stage 2 steps")
    ap.add_argument("--clip-batch", type=int, default=12, help="clips per step")
    ap.add_argument("--clip-seqs", type=int, default=4, help="questions per clip per step")
    ap.add_argument("--still-batch", type=int, default=8)
    ap.add_argument("--still-seqs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=1.5e-3)
    ap.add_argument("--warmup", type=int, default=150)
    ap.add_argument("--caption-p", type=float, default=0.4, help="share of questions that ask for the caption")
    ap.add_argument("--vision-steps", type=int, default=3500, help="stage 1: vision tower pretraining steps")
    ap.add_argument("--vision-batch", type=int, default=64)
    ap.add_argument("--vision-lr", type=float, default=2e-3)
    ap.add_argument("--aux-weight", type=float, default=0.0, help="auxiliary grounding loss weight (training only)")
    ap.add_argument("--aux-until", type=float, default=0.5, help="share of training after which aux weight is 0")
    ap.add_argument("--event-steps", type=int, default=0,
                    help="stage 1b: video Q-Former event pretraining steps on cached merged tokens (needs --event-weight)")
    ap.add_argument("--event-batch", type=int, default=64)
    ap.add_argument("--event-lr", type=float, default=1e-3)
    ap.add_argument("--scene-steps", type=int, default=10000,
                    help="stage 1c: video Q-Former scene-table pretraining steps on cached merged tokens (0 = off)")
    ap.add_argument("--scene-batch", type=int, default=64)
    ap.add_argument("--scene-head", choices=["flat", "pooled"], default="pooled",
                    help="how stage 1c reads the scene table from the query outputs (run 5: flat)")
    ap.add_argument("--scene-lr", type=float, default=1e-3)
    ap.add_argument("--scene-directions", action=argparse.BooleanOptionalAction, default=True,
                    help="the scene table also holds each shape's direction of motion, toward/away included")
    ap.add_argument("--freeze-vision", action=argparse.BooleanOptionalAction, default=True,
                    help="stage 2 leaves the vision tower as stage 1 left it")
    ap.add_argument("--freeze-qformer", action=argparse.BooleanOptionalAction, default=True,
                    help="stage 2 leaves the vision tower, the video Q-Former, its queries and frame positions as "
                         "they are and trains the projection and decoder on their cached outputs")
    ap.add_argument("--qformer-lr-scale", type=float, default=1.0,
                    help="stage 2 learning rate of the video Q-Former, its queries and frame positions, relative to --lr")
    ap.add_argument("--event-weight", type=float, default=0.0,
                    help="weight of the clip-event loss on the flattened Q-Former output (training only; 0 = off)")
    ap.add_argument("--event-until", type=float, default=0.8, help="share of training after which the event weight is 0")
    ap.add_argument("--patch-pos-weight", type=float, default=10.0,
                    help="weight of the per-patch grid-coordinate loss in stage 1 and the aux loss (0 = off, as before it existed)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--init-from", default="", help="continue from a model folder this script wrote (its tokenizer, "
                    "config and weights); use a new --seed for fresh data and --vision-steps 0")
    ap.add_argument("--time-only", type=int, default=0, help="time this many steps and exit")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)
    t_start = time.time()
    os.makedirs(args.out, exist_ok=True)

    if args.init_from:
        from tokenizers import Tokenizer
        tok = Tokenizer.from_file(os.path.join(args.init_from, "tokenizer.json"))
    else:
        tok = train_tokenizer(args.seed)
    pad, bos, eos = tok.token_to_id("<pad>"), tok.token_to_id("<s>"), tok.token_to_id("</s>")
    print(f"tokenizer: {tok.get_vocab_size()} tokens, pad {pad} bos {bos} eos {eos}", flush=True)

    t0 = time.time()
    clips, clip_frames, clip_aux, stills, still_frames, still_aux = make_data(args.seed + 1, args.clips, args.stills)
    print(f"data: {len(clips)} clips, {len(stills)} stills in {time.time() - t0:.0f} s", flush=True)

    config = model_config(tok.get_vocab_size(), bos, eos, pad)
    model = vm.VidLMForConditionalGeneration(config)
    if args.init_from:
        from safetensors.torch import load_file
        with open(os.path.join(args.init_from, "config.json")) as f:
            assert json.load(f) == config, "--init-from: the folder's config differs from this script's"
        missing, unexpected = model.load_state_dict(load_file(os.path.join(args.init_from, "model.safetensors")), strict=False)
        # the tied LM head is the only weight a checkpoint leaves out
        assert missing == ["language_model.lm_head.weight"] and not unexpected, (missing, unexpected)
        model.language_model.tie_weights()
        print(f"init from {args.init_from}", flush=True)
    n_params = sum(p.numel() for p in model.export_state_dict().values())
    print(f"model: {n_params / 1e6:.2f} M parameters", flush=True)
    diff = check_batched(model, tok, [clip_frames[i] for i in range(3)], pad)
    diff_still = check_batched(model, tok, [still_frames[i:i + 1] for i in range(2)], pad)
    print(f"batched vs per-clip logits: max |diff| {diff:.2e} (clips), {diff_still:.2e} (stills)", flush=True)
    assert diff < 1e-3 and diff_still < 1e-3

    heads = AuxHeads(model.vision_model.config.hidden_size, model.video_query_tokens.shape[-1], args.patch_pos_weight,
                     model.video_query_tokens.shape[1], event_head=args.event_weight > 0,
                     scene_head=args.scene_head if args.scene_steps else "", scene_directions=args.scene_directions)
    named = list(model.named_parameters()) + [("aux." + n, p) for n, p in heads.named_parameters()]
    if args.freeze_vision:
        # stage 2's optimiser leaves the tower out; stage 1 (if any) still trains it with its own
        named = [(n, p) for n, p in named if not n.startswith("vision_model.")]
    video = lambda n: n.startswith(("video_Qformer.", "video_query_tokens", "video_frame_position_embedding."))
    if args.freeze_qformer:
        assert args.freeze_vision and not args.aux_weight and not args.event_weight, \
            "--freeze-qformer needs --freeze-vision, --aux-weight 0 and --event-weight 0"
        named = [(n, p) for n, p in named if not video(n)]
    groups = []
    for is_video in (False, True):
        lr = args.lr * (args.qformer_lr_scale if is_video else 1.0)
        part = [(n, p) for n, p in named if video(n) == is_video]
        groups += [{"params": [p for n, p in part if p.dim() >= 2 and "embed" not in n], "weight_decay": 0.05, "lr": lr},
                   {"params": [p for n, p in part if not (p.dim() >= 2 and "embed" not in n)], "weight_decay": 0.0,
                    "lr": lr}]
    opt = torch.optim.AdamW([g for g in groups if g["params"]], lr=args.lr, betas=(0.9, 0.98), eps=1e-8)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / args.warmup) * (0.5 * (1 + math.cos(math.pi * min(s, args.steps) / args.steps)) * 0.95 + 0.05))

    rng = random.Random(args.seed + 2)
    t_train = time.time()
    if args.vision_steps and not args.time_only:
        pretrain_vision(model, heads, clip_frames, clip_aux, still_frames, still_aux, args.vision_steps,
                        args.vision_batch, args.vision_lr, random.Random(args.seed + 3), lambda m: print(m, flush=True))
        print(f"stage 1 (vision) done in {time.time() - t_train:.0f} s", flush=True)
    if args.event_steps and not args.time_only:
        assert heads.events is not None, "--event-steps needs --event-weight > 0"
        t1 = time.time()
        pretrain_events(model, heads, clip_frames, clip_aux, args.event_steps, args.event_batch, args.event_lr,
                        random.Random(args.seed + 4), lambda m: print(m, flush=True))
        print(f"stage 1b (events) done in {time.time() - t1:.0f} s", flush=True)
    if args.scene_steps and not args.time_only:
        t1 = time.time()
        pretrain_scene(model, heads, clip_frames, clip_aux, still_frames, still_aux, args.scene_steps,
                       args.scene_batch, args.scene_lr, random.Random(args.seed + 5), lambda m: print(m, flush=True))
        print(f"stage 1c (scene table) done in {time.time() - t1:.0f} s", flush=True)
    if args.freeze_vision:
        for p in model.vision_model.parameters():
            p.requires_grad_(False)
    cached = None
    if args.freeze_qformer:
        for n, p in model.named_parameters():
            if video(n):
                p.requires_grad_(False)
        t1 = time.time()
        cached = cached_qformer_outputs(model, clip_frames, still_frames)
        print(f"stage 2 on cached Q-Former outputs {tuple(cached[0].shape)} + {tuple(cached[1].shape)} "
              f"({time.time() - t1:.0f} s)", flush=True)
    enc = lambda text: tok.encode(text).ids
    steps_log, loss_log, ev_hits = [], [], []
    model.train()
    total_steps = args.time_only or args.steps
    for step in range(total_steps):
        ci = [rng.randrange(len(clips)) for _ in range(args.clip_batch)]
        si = [rng.randrange(len(stills)) for _ in range(args.still_batch)]
        prompts, answers, owner = [], [], []
        for group, idx, seqs, offset in ((clips, ci, args.clip_seqs, 0), (stills, si, args.still_seqs, len(ci))):
            for j, k in enumerate(idx):
                for _ in range(seqs):
                    q, a = sample_question(group[k], rng, args.caption_p)
                    prompts.append(enc(PROMPT_TEMPLATE.format(question=q)))
                    answers.append(enc(" " + a) + [eos])
                    owner.append(offset + j)
        # random horizontal flips would change left/right: no augmentation beyond the codec
        if cached is not None:
            prefix_c, prefix_s = model.llama_proj(cached[0][ci]), model.llama_proj(cached[1][si])
        else:
            prefix_c, feats_c, hid_c = batched_prefix(model, to_pixels(clip_frames[ci]), extras=True)
            prefix_s, feats_s, hid_s = batched_prefix(model, to_pixels(still_frames[si][:, None]), extras=True)
        logits, labels = batched_lm(model, torch.cat([prefix_c, prefix_s]), owner, prompts, answers, pad)
        loss = lm_loss(logits, labels)
        aux_w = args.aux_weight * min(1.0, max(0.0, (args.aux_until * args.steps - step) / (0.25 * args.steps)))
        aux_loss = torch.zeros(())
        if aux_w > 0:
            aux_loss = heads.loss(feats_c, hid_c, clip_aux, ci) + heads.loss(feats_s, hid_s, still_aux, si)
        ev_w = args.event_weight * min(1.0, max(0.0, (args.event_until * args.steps - step) / (0.1 * args.steps)))
        ev_loss = torch.zeros(())
        if ev_w > 0:
            ev_loss, acc = heads.event_loss(hid_c, clip_aux, ci)
            ev_hits.append(acc)
        total = loss + aux_w * aux_loss + ev_w * ev_loss
        opt.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_([p for _, p in named], 1.0)
        opt.step()
        sched.step()
        steps_log.append(step)
        loss_log.append(loss.item())
        if step % 50 == 0 or step == total_steps - 1:
            el = time.time() - t_train
            recent = [h for h in ev_hits[-100:] if h == h]
            ev_acc = np.mean(recent) if recent else float("nan")
            print(f"step {step:5d} loss {loss.item():.4f} aux {aux_loss.item():.3f} (w {aux_w:.2f}) "
                  f"event {ev_loss.item():.3f} (w {ev_w:.2f}, moving-kind acc (last 100) {ev_acc:.2f}) lr {sched.get_last_lr()[0]:.2e} "
                  f"{el:.0f} s ({el / (step + 1):.2f} s/step)", flush=True)
    train_s = time.time() - t_train
    if args.time_only:
        print(f"{args.time_only} steps in {train_s:.1f} s: {train_s / args.time_only:.3f} s/step")
        return

    model.eval()
    diff = check_batched(model, tok, [clip_frames[i] for i in range(3)], pad)
    print(f"after training: batched vs per-clip logits max |diff| {diff:.2e}", flush=True)

    from safetensors.torch import save_file
    save_file(model.export_state_dict(), os.path.join(args.out, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    tok.save(os.path.join(args.out, "tokenizer.json"))
    for name, obj in (("tokenizer_config.json", tokenizer_config()), ("preprocessor_config.json", PREPROCESSOR)):
        with open(os.path.join(args.out, name), "w") as f:
            json.dump(obj, f, indent=2)
            f.write("\n")
    # smoothed curve (mean over 25 steps) keeps the SVG small
    win = 25
    xs = list(range(0, len(loss_log), win))
    ys = [float(np.mean(loss_log[i:i + win])) for i in xs]
    loss_svg(xs, ys, os.path.join(args.out, "loss.svg"), f"vidlm-shapes training loss ({len(loss_log)} steps)")
    log = {"args": vars(args), "params": n_params, "train_seconds": round(train_s, 1),
           "total_seconds": round(time.time() - t_start, 1), "final_loss_mean_last_100": float(np.mean(loss_log[-100:])),
           "loss_every_25_steps": [round(y, 5) for y in ys], "batched_check_max_abs_diff": diff,
           "torch": torch.__version__}
    with open(os.path.join(args.out, "train_log.json"), "w") as f:
        json.dump(log, f, indent=1)
    print(f"done: {train_s / 60:.1f} min training, final loss {log['final_loss_mean_last_100']:.4f}", flush=True)


if __name__ == "__main__":
    main()
