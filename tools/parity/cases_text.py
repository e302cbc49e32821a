"""Language-decoder parity cases: LlamaForCausalLM and OPTForCausalLM (transformers as the oracle).

Each case stores
  inputs:   input_ids [1, L] (int64), inputs_embeds [1, P, E] (random rows, for the embeddings path)
  expected: logits [L, V] for the prompt; embeds_logits [P + L, V] for inputs_embeds followed by the
            prompt's own embeddings; greedy_ids [32] from `generate(do_sample=False)`
and meta.json facts (smallest top-1/top-2 logit gap along the greedy path, so a flip would be
visible as a tie rather than a bug).

bf16 case: weights stored as bf16; `logits` come from the f32 model on the *unrounded* weights
(tolerance 2e-2 of scale, the whole bf16 error) and `logits_rounded` / `greedy_ids` from the f32
model on the bf16-rounded weights whose Linear layers also round their input to bf16, as
PyTorch's bf16 matmul does, and whose attention rounds q, k, v and the unnormalised
probabilities to bf16 (dividing by the f32 sum), as PyTorch's bf16 attention does (what the Swift
kernels compute: tolerance 1e-4, same ids). `logits_rounded_f32_attention` /
`greedy_ids_f32_attention` are the same model with f32 attention: what vidlm computes on a CPU
without AVX-512 BF16 (and with VIDLM_PORTABLE_KERNELS=1).
"""
import copy

import torch
from transformers import AttentionInterface, LlamaConfig, LlamaForCausalLM, OPTConfig, OPTForCausalLM
from transformers.masking_utils import AttentionMaskInterface, eager_mask
from transformers.models.llama.modeling_llama import repeat_kv


def _bf16_attention(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
    """Eager attention computed as a bf16 model's: q, k and v rounded to bf16, scores and the
    softmax in f32, the unnormalised probabilities exp(s - max) rounded to bf16 before they weigh
    v, the sum of the unrounded ones dividing the result."""
    bf16 = lambda t: t.to(torch.bfloat16).float()
    q, k, v = bf16(query), bf16(repeat_kv(key, module.num_key_value_groups)), bf16(repeat_kv(value, module.num_key_value_groups))
    scores = torch.matmul(q, k.transpose(2, 3)) * scaling
    if attention_mask is not None:
        scores = scores + attention_mask
    e = torch.exp(scores - scores.amax(dim=-1, keepdim=True))
    out = torch.matmul(bf16(e), v) / e.sum(dim=-1, keepdim=True)
    return out.transpose(1, 2).contiguous(), e / e.sum(dim=-1, keepdim=True)


AttentionInterface.register("vidlm_bf16", _bf16_attention)
AttentionMaskInterface.register("vidlm_bf16", eager_mask)  # the additive causal mask eager attention gets

from harness import Fixture, case

NEW_TOKENS = 32
PROMPT = 12
PREFIX = 5


def _random_init(model: torch.nn.Module, scale: float) -> torch.nn.Module:
    # transformers initialises norms to ones and biases to zeros; random values everywhere make
    # every parameter matter. `scale` is picked per family so logits spread over several units.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ("norm" in name or "LayerNorm" in name) and name.endswith("weight"):
                p.copy_(1 + 0.1 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn_like(p))
            else:
                p.copy_(scale * torch.randn_like(p))
    return model.eval()


def _greedy(model, ids):
    with torch.no_grad():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=NEW_TOKENS,
                             min_new_tokens=NEW_TOKENS, do_sample=False, eos_token_id=None, pad_token_id=0,
                             output_scores=True, return_dict_in_generate=True)
    new = out.sequences[0, ids.shape[1]:]
    gaps = []
    for s in out.scores:
        top = torch.topk(s[0].float(), 2).values
        gaps.append(float(top[0] - top[1]))
    return new, min(gaps)


def _text_fixture(make, weight_dtype="F32", rounding=None, config=None, extra_meta=None, attempts=60,
                  rounding_limit=1.5e-2):
    """`make()` builds a random model; redrawn (deterministically) until the greedy path is varied
    (≥ 10 distinct tokens) and has no near tie (top-1/top-2 gap ≥ 5e-3), and, for rounded weights,
    until the rounding itself (with f32 attention) moves the logits by ≤ `rounding_limit` of their
    scale (tiny random models amplify bf16 rounding anywhere from 1% to 3.5%; bf16 attention adds
    about as much again, and the test's tolerance is 3e-2)."""
    for _ in range(attempts):
        model = make()
        rounded = None
        if rounding is not None:
            rounded = copy.deepcopy(model)
            with torch.no_grad():
                for p in rounded.parameters():
                    p.copy_(p.to(rounding).float())
            for module in rounded.modules():
                if isinstance(module, torch.nn.Linear):
                    module.register_forward_pre_hook(lambda _m, args: (args[0].to(rounding).float(),) + args[1:])
        vocab = model.config.vocab_size
        ids = torch.randint(3, vocab, (1, PROMPT))
        emb = model.get_input_embeddings()
        prefix = 0.5 * torch.randn(1, PREFIX, emb.weight.shape[1])
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0]
            embeds_logits = model(inputs_embeds=torch.cat([prefix, emb(ids)], dim=1)).logits[0]
        oracle = rounded if rounded is not None else model
        greedy, gap = _greedy(oracle, ids)
        distinct = len(set(greedy.tolist()))
        rounding_error = 0.0
        if rounded is not None:
            with torch.no_grad():
                approx = rounded(input_ids=ids).logits[0]
                approx_embeds = rounded(inputs_embeds=torch.cat([prefix, rounded.get_input_embeddings()(ids)], dim=1)).logits[0]
            rounding_error = max(float((logits - approx).abs().max() / logits.abs().max()),
                                 float((embeds_logits - approx_embeds).abs().max() / embeds_logits.abs().max()))
        if distinct >= 10 and gap >= 5e-3 and rounding_error <= rounding_limit:
            break
    else:
        raise AssertionError(f"no varied greedy path in {attempts} draws")
    expected = {"logits": logits, "embeds_logits": embeds_logits, "greedy_ids": greedy.to(torch.int64)}
    if rounded is not None:
        with torch.no_grad():
            expected["logits_rounded"] = rounded(input_ids=ids).logits[0]
        if rounding is torch.bfloat16:
            # The draw above (and its checks) used f32 attention, which is what a CPU without
            # AVX-512 BF16 computes (the Linear layers still round their input): those results
            # are the `_f32_attention` variants. Where vidlm attends in bf16 the oracle rounds
            # its attention the same way (`vidlm_bf16`).
            expected["logits_rounded_f32_attention"] = expected["logits_rounded"]
            expected["greedy_ids_f32_attention"] = expected["greedy_ids"]
            rounded.set_attn_implementation("vidlm_bf16")
            with torch.no_grad():
                expected["logits_rounded"] = rounded(input_ids=ids).logits[0]
            greedy_bf16, gap_bf16 = _greedy(rounded, ids)
            expected["greedy_ids"] = greedy_bf16.to(torch.int64)
            gap = min(gap, gap_bf16)
    meta = {"new_tokens": NEW_TOKENS, "min_greedy_gap": gap, "distinct_greedy_tokens": distinct,
            "logits_scale": float(logits.abs().max())}
    if rounded is not None:
        meta["rounding_error"] = rounding_error
    meta.update(extra_meta or {})
    return Fixture(model, {"input_ids": ids, "inputs_embeds": prefix}, expected, weight_dtype=weight_dtype,
                   meta=meta, config=config if config is None else config(model))


def _llama(**overrides):
    base = dict(vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, max_position_embeddings=64, rms_norm_eps=1e-5, bos_token_id=1, eos_token_id=2,
                tie_word_embeddings=False)
    base.update(overrides)
    config = LlamaConfig(**base)
    config._attn_implementation = "eager"
    return _random_init(LlamaForCausalLM(config), scale=0.35)


@case("llama_tiny_gqa")
def _():
    # 4 query heads sharing 2 key/value heads, default RoPE, separate LM head.
    return _text_fixture(_llama)


@case("llama_tiny_llama3")
def _():
    # Llama 3.1 RoPE scaling (transformers 5 `rope_parameters` form), explicit head_dim ≠
    # hidden/heads, one key/value head, tied embeddings. original_max 32 puts the 16-dim head's
    # wavelengths in all three bands (kept, smoothed, divided).
    return _text_fixture(lambda: _llama(
        num_attention_heads=2, num_key_value_heads=1, head_dim=24, tie_word_embeddings=True,
        rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                         "high_freq_factor": 4.0, "original_max_position_embeddings": 32}))


@case("llama_tiny_linear")
def _():
    # Linear RoPE scaling written the transformers-4 way (`rope_scaling` + top-level
    # `rope_theta`), as most hub configs still are.
    def legacy(model):
        config = model.config.to_dict()
        config.pop("rope_parameters")
        config["rope_scaling"] = {"type": "linear", "factor": 2.0}
        config["rope_theta"] = 10000.0
        return config

    return _text_fixture(lambda: _llama(rope_parameters={"rope_type": "linear", "factor": 2.0, "rope_theta": 10000.0},
                                        attention_bias=True, mlp_bias=True),
                         config=legacy, extra_meta={"legacy_rope_scaling": True})


@case("llama_tiny_gqa_bf16")
def _():
    # llama_tiny_gqa's architecture (its first draw, then redrawn while bf16 rounding alone moves
    # the logits by more than 1.5e-2 of scale).
    # The draw is checked with f32 attention (as before bf16 attention existed, so the same
    # model); bf16 attention adds to the rounding error, hence the test's 3e-2 on unrounded logits.
    return _text_fixture(_llama, weight_dtype="BF16", rounding=torch.bfloat16)


def _opt(**overrides):
    base = dict(vocab_size=96, hidden_size=32, num_hidden_layers=2, ffn_dim=64, num_attention_heads=4,
                max_position_embeddings=64, word_embed_proj_dim=32, do_layer_norm_before=True, activation_function="relu",
                enable_bias=True, layer_norm_elementwise_affine=True, pad_token_id=1, bos_token_id=2, eos_token_id=2,
                tie_word_embeddings=True, dropout=0.0)
    base.update(overrides)
    config = OPTConfig(**base)
    config._attn_implementation = "eager"
    return _random_init(OPTForCausalLM(config), scale=0.35)


@case("opt_tiny")
def _():
    # opt-125m layout: pre-LN, final layer norm, ReLU, biases, tied LM head.
    return _text_fixture(_opt)


@case("opt_tiny_project")
def _():
    # opt-350m layout: word_embed_proj_dim ≠ hidden_size (project_in / project_out), post-LN
    # layers and no final layer norm.
    return _text_fixture(lambda: _opt(word_embed_proj_dim=16, do_layer_norm_before=False))


@case("opt_tiny_nobias_f16")
def _():
    # No biases, LayerNorms without affine parameters, GELU, untied head; weights stored as f16
    # (as OPT checkpoints ship). logits_rounded is the f32 model on the f16-rounded weights.
    return _text_fixture(lambda: _opt(enable_bias=False, layer_norm_elementwise_affine=False, activation_function="gelu",
                                      tie_word_embeddings=False),
                         weight_dtype="F16", rounding=torch.float16)
