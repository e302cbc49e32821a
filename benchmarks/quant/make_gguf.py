"""GGUF files of a random-weight LLaMA checkpoint (benchmarks/quant/make_models.py's shapes) for
llama.cpp, named after the source folder (tinyllama-f32 → tinyllama-KIND.gguf), written with the
`gguf` package from the same safetensors weights vidlm loads: f32, f16 and bf16 (weights rounded, norms f32), q8_0 and q4_0 (every linear weight incl.
the LM head in that format, by the package's reference quantizer; the token embedding stays f32,
as in the folders `vidlm quantize` writes). q_proj / k_proj rows are permuted to GGML's rotary
layout as llama.cpp's converter does. The model has no tokenizer, so a placeholder SentencePiece
vocabulary of the right size is written (llama-bench feeds random ids).

    tools/.venv/bin/python benchmarks/quant/make_gguf.py IN_DIR OUT_DIR f32 f16 bf16 q8_0 q4_0
"""
import json
import pathlib
import sys

import numpy as np
from gguf import GGMLQuantizationType, GGUFWriter, LlamaFileType, quantize
from safetensors.torch import load_file

TYPES = {"f32": (GGMLQuantizationType.F32, LlamaFileType.ALL_F32),
         "f16": (GGMLQuantizationType.F16, LlamaFileType.MOSTLY_F16),
         "bf16": (GGMLQuantizationType.BF16, LlamaFileType.MOSTLY_BF16),
         "q8_0": (GGMLQuantizationType.Q8_0, LlamaFileType.MOSTLY_Q8_0),
         "q4_0": (GGMLQuantizationType.Q4_0, LlamaFileType.MOSTLY_Q4_0)}

NAMES = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
         "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
         "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm"}


def permute(w: np.ndarray, heads: int) -> np.ndarray:
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def gguf_name(name: str) -> str:
    if name == "model.embed_tokens.weight":
        return "token_embd.weight"
    if name == "model.norm.weight":
        return "output_norm.weight"
    if name == "lm_head.weight":
        return "output.weight"
    parts = name.split(".")  # model.layers.N.<module>.<sub>.weight
    return f"blk.{parts[2]}.{NAMES['.'.join(parts[3:-1])]}.weight"


def write(src: pathlib.Path, out: pathlib.Path, kind: str) -> None:
    cfg = json.loads((src / "config.json").read_text())
    weights = load_file(str(src / "model.safetensors"))
    qtype, ftype = TYPES[kind]
    heads, kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    w = GGUFWriter(str(out), "llama")
    w.add_name(f"random-{out.stem}")
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(heads)
    w.add_head_count_kv(kv)
    w.add_rope_dimension_count(cfg["hidden_size"] // heads)
    w.add_rope_freq_base(cfg.get("rope_theta", 10000.0))
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    w.add_vocab_size(cfg["vocab_size"])
    w.add_file_type(ftype)
    n = cfg["vocab_size"]
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{i:02X}>" for i in range(256)]
    tokens += [f"\u2581t{i}" for i in range(n - len(tokens))]
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores([0.0] * n)
    w.add_token_types([2, 3, 3] + [6] * 256 + [1] * (n - 259))
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    for name in sorted(weights):
        t = weights[name].float().numpy()
        if name.endswith("q_proj.weight"):
            t = permute(t, heads)
        elif name.endswith("k_proj.weight"):
            t = permute(t, kv)
        g = gguf_name(name)
        if t.ndim == 1 or (g == "token_embd.weight" and kind in ("q8_0", "q4_0")) or kind == "f32":
            w.add_tensor(g, np.ascontiguousarray(t))
        else:
            w.add_tensor(g, quantize(t, qtype), raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print("wrote", out)


if __name__ == "__main__":
    src, dst = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    dst.mkdir(parents=True, exist_ok=True)
    name = src.name.rsplit("-", 1)[0]  # tinyllama-f32 → tinyllama
    for kind in sys.argv[3:]:
        if not (dst / f"{name}-{kind}.gguf").exists():
            write(src, dst / f"{name}-{kind}.gguf", kind)
