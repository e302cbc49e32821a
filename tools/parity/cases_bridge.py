"""Bridge parity cases: token mergers (spatial pool, concat-linear, temporal), proportional
attention, and Video-LLaMA's video Q-Former, all from tools/reference/vidlm_bridge.py.

Merger fixtures store `features` [T, 1 + g*g, D] as input and, as expected outputs, `tokens`,
`counts` (absent for mergers without counts), provenance in CSR form (`provenance_offsets`,
`provenance_frames`, `provenance_positions`, int64) and, for the temporal merger,
`frame_offsets`. config.json holds `{"token_merger": {...}, "grid_side": g, "width": D}`.
"""
import math
import pathlib
import sys

import torch
import torch.nn as nn
from transformers import Blip2QFormerConfig, Blip2QFormerModel

from harness import Fixture, case

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "reference"))
import vidlm_bridge as vb  # noqa: E402

# Similarities closer to tau than this would make the Swift/PyTorch merge decision depend on
# float rounding; the generated clips must keep clear of the threshold.
TAU_MARGIN = 1e-3


def _init(model: nn.Module, scale: float = 0.2) -> nn.Module:
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "layernorm" in name.lower() and name.endswith("weight"):
                p.copy_(1 + 0.1 * torch.randn_like(p))
            else:
                p.copy_(scale * torch.randn_like(p))
    return model.eval()


def _merger_fixture(merger: vb.TokenMerger, features: torch.Tensor, model: nn.Module | None = None, **meta) -> Fixture:
    with torch.no_grad():
        out = merger(features)
    expected = {"tokens": out.tokens, **out.provenance_tensors()}
    if out.counts is not None:
        expected["counts"] = out.counts
    if out.frame_offsets is not None:
        expected["frame_offsets"] = torch.tensor(out.frame_offsets, dtype=torch.int64)
    if out.similarities:
        gap = min(abs(s - merger.tau) for s in out.similarities)
        assert gap > TAU_MARGIN, f"a similarity lies {gap} from tau; regenerate the clip"
        meta["closest_similarity_gap"] = gap
    g = math.isqrt(features.shape[1] - 1)
    n_in, n_out = features.shape[0] * features.shape[1], out.tokens.shape[0] * out.tokens.shape[1]
    meta.update({"tokens_in": n_in, "tokens_out": n_out, "kept_fraction": n_out / n_in})
    config = {"token_merger": merger.config_dict(), "grid_side": g, "width": features.shape[2]}
    return Fixture(model if model is not None else nn.Module(), {"features": features}, expected, meta=meta, config=config)


@case("bridge_merge_spatial_k2")
def _():
    x = torch.randn(2, 1 + 16, 8)
    return _merger_fixture(vb.spatial_pool(2), x)


@case("bridge_merge_concat_k4")
def _():
    merger = vb.concat_linear(4, width=8, out_size=12)
    model = _init(nn.ModuleDict({"merger": merger}))
    x = torch.randn(2, 1 + 16, 8)
    return _merger_fixture(merger, x, model=model)


def _noise_like(x, scale):
    return x + scale * torch.randn_like(x)


@case("bridge_merge_temporal_static")
def _():
    # One scene, every frame the same up to 2 % noise: ~one frame of patches + T class tokens.
    t, g, d = 8, 4, 16
    scene = torch.randn(1 + g * g, d)
    x = torch.stack([_noise_like(scene, 0.02) for _ in range(t)])
    return _merger_fixture(vb.temporal(0.9), x, clip="static")


@case("bridge_merge_temporal_moving")
def _():
    # Every frame new content: (almost) nothing merges.
    x = torch.randn(6, 1 + 16, 16)
    return _merger_fixture(vb.temporal(0.9), x, clip="moving")


@case("bridge_merge_temporal_mixed")
def _():
    # 4x4 grid, 6 frames: rows 0-1 static background with a scene cut at frame 4; rows 2-3 /
    # columns 0-1 a moving object (new content each frame); rows 2-3 / columns 2-3 a slow drift
    # (rotation by 0.25 rad per frame), which stays merged until its distance from the running
    # mean crosses tau, then starts a new token.
    t, g, d = 6, 4, 16
    x = torch.empty(t, 1 + g * g, d)
    background, cut = torch.randn(g * g, d), torch.randn(g * g, d)
    u, w = torch.randn(g * g, d), torch.randn(g * g, d)
    w = w - (w * u).sum(-1, keepdim=True) / (u * u).sum(-1, keepdim=True) * u   # w ⟂ u
    w = w * (u.norm(dim=-1, keepdim=True) / w.norm(dim=-1, keepdim=True))
    for f in range(t):
        x[f, 0] = torch.randn(d)
        for p in range(g * g):
            r, c = divmod(p, g)
            if r < 2:
                x[f, 1 + p] = _noise_like((background if f < 4 else cut)[p], 0.02)
            elif c < 2:
                x[f, 1 + p] = torch.randn(d)
            else:
                theta = 0.25 * f
                x[f, 1 + p] = math.cos(theta) * u[p] + math.sin(theta) * w[p]
    return _merger_fixture(vb.temporal(0.9), x, clip="mixed")


@case("bridge_proportional_attention")
def _():
    # Multi-head attention with + log(count) on the key logits; count 0 masks a key.
    heads = 4
    q, k, v = torch.randn(2, 3, 16), torch.randn(2, 7, 16), torch.randn(2, 7, 16)
    counts = torch.randint(1, 6, (2, 7)).float()
    counts[1, 2] = 0
    out = vb.proportional_cross_attention(q, k, v, counts, heads)
    plain = vb.proportional_cross_attention(q, k, v, None, heads)
    return Fixture(nn.Module(), {"q": q, "k": k, "v": v, "counts": counts},
                   {"out": out, "out_without_counts": plain, "log_counts": torch.log(counts)},
                   meta={"heads": heads}, config={"heads": heads})


@case("bridge_qformer_log_counts")
def _():
    # A frame Q-Former (transformers' Blip2QFormerModel names, no prefix) cross-attending to
    # temporally merged tokens with proportional attention: encoder_attention_mask =
    # log(counts)[:, None, None, :]. `last_hidden_state_plain` is the same without the bias.
    config = Blip2QFormerConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                                cross_attention_frequency=1, encoder_hidden_size=16, layer_norm_eps=1e-12)
    config._attn_implementation = "eager"
    qformer = _init(Blip2QFormerModel(config))
    scene = torch.randn(17, 16)
    frames = torch.stack([scene if f < 3 else torch.randn(17, 16) for f in range(5)])
    merged = vb.temporal(0.9)(frames)
    queries = torch.randn(1, 4, 32)
    with torch.no_grad():
        biased = qformer(query_embeds=queries, encoder_hidden_states=merged.tokens,
                         encoder_attention_mask=vb.log_count_mask(merged.counts)).last_hidden_state
        plain = qformer(query_embeds=queries, encoder_hidden_states=merged.tokens).last_hidden_state
        # the helper and transformers agree on the first cross-attention's core
        layer = qformer.encoder.layer[0].crossattention.attention
        x = qformer.layernorm(queries)
        x = qformer.encoder.layer[0].attention(x)
        ref = vb.proportional_cross_attention(layer.query(x), layer.key(merged.tokens), layer.value(merged.tokens),
                                              merged.counts, heads=4)
        hf, _ = layer(x, encoder_hidden_states=merged.tokens, encoder_attention_mask=vb.log_count_mask(merged.counts))
        assert torch.allclose(ref, hf, atol=1e-6), (ref - hf).abs().max()
    return Fixture(qformer, {"queries": queries, "encoder": merged.tokens[0][None], "counts": merged.counts},
                   {"last_hidden_state": biased, "last_hidden_state_plain": plain, "log_counts": torch.log(merged.counts)},
                   meta={"merged_tokens": merged.tokens.shape[1]}, config=config.to_dict())


def _video_qformer(max_frame_pos=8):
    config = Blip2QFormerConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                                cross_attention_frequency=1, encoder_hidden_size=32, layer_norm_eps=1e-12,
                                use_qformer_text_input=False)
    config._attn_implementation = "eager"
    model = vb.VideoQFormer(config, num_video_query_tokens=4, max_frame_pos=max_frame_pos, llm_hidden_size=48)
    return _init(model)


def _check_key_map(model: vb.VideoQFormer) -> dict:
    """Video-LLaMA's LAVIS names → ours must cover the module exactly (buffers dropped)."""
    lavis = vb.video_llama_lavis_keys(model.qformer_config.num_hidden_layers)
    mapped = {k: vb.rename_video_llama_key(k) for k in lavis}
    ours = set(model.state_dict())
    kept = {v for v in mapped.values() if v is not None}
    assert kept == ours, (sorted(kept ^ ours))
    # a LAVIS-named state dict converts and loads strictly
    state = {k: model.state_dict()[v] for k, v in mapped.items() if v is not None}
    state["video_Qformer.bert.embeddings.position_ids"] = torch.arange(512)[None]
    model.load_state_dict(vb.convert_video_llama_state_dict(state), strict=True)
    return mapped


def _video_fixture(frames: int) -> Fixture:
    model = _video_qformer()
    mapped = _check_key_map(model)
    states = torch.randn(1, frames, 4, 32)
    with torch.no_grad():
        out = model(states)
        positions = model.frame_positions(frames)
    expected = {"frame_positions": positions, **out}
    meta = {"frames": frames, "max_frame_pos": model.max_frame_pos, "interpolated": frames > model.max_frame_pos,
            "key_map_rules": [[p, r] for p, r in vb.VIDEO_LLAMA_KEY_MAP.items()],
            "key_map_examples": mapped}
    return Fixture(model, {"frame_states": states}, expected, meta=meta, config=model.config_dict())


@case("video_llama_qformer_tiny")
def _():
    return _video_fixture(3)


@case("video_llama_qformer_interp")
def _():
    # 11 frames > max_frame_pos 8: the position table is resampled linearly (align_corners).
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _video_fixture(11)
