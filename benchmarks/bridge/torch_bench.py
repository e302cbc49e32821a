"""PyTorch side of the bridge benchmark: the reference mergers of tools/reference/vidlm_bridge.py
and transformers' Blip2QFormerModel + language_projection on the same weights and features as
`vidlm-bench bridge`, the same thread count, inference mode. Per clip × merger:

    merged = vb.TokenMerger(...)(features)                          (merge)
    mask   = vb.log_count_mask(merged.counts) if the merger has counts and proportional attention
    out    = qformer(query_embeds=query_tokens.expand(B, -1, -1), encoder_hidden_states=merged.tokens,
                     encoder_attention_mask=mask).last_hidden_state
    projected = language_projection(out)                             (Q-Former + projection)

B = T for the per-frame mergers (none, spatial_pool k=2, concat_linear k=4) and B = 1 for the
temporal merger (tau 0.9: one clip-level sequence). One untimed pass, then RUNS timed passes.
Prints one JSON object in vidlm-bench's form.

    torch_bench.py DIR RUNS THREADS
"""
import json
import pathlib
import sys
import time

import torch
from safetensors.torch import load_file
from transformers import Blip2QFormerConfig, Blip2QFormerModel

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tools" / "reference"))
import vidlm_bridge as vb  # noqa: E402

CLIPS = sys.argv[4].split(",") if len(sys.argv) > 4 else ["static_8", "motion_8", "static_32", "motion_32"]
MERGERS = ["none", "spatial_pool", "temporal", "concat_linear"]


def main(folder: str, runs: int, threads: int) -> None:
    torch.set_num_threads(threads)
    d = pathlib.Path(folder)
    config = json.loads((d / "config.json").read_text())
    t0 = time.perf_counter()
    state = load_file(d / "model.safetensors")
    qconfig = Blip2QFormerConfig(**config["qformer_config"])
    qformer = Blip2QFormerModel(qconfig).eval()
    qformer.load_state_dict({k[len("qformer."):]: v for k, v in state.items() if k.startswith("qformer.")}, strict=True)
    projection = torch.nn.Linear(qconfig.hidden_size, config["text_hidden_size"])
    projection.load_state_dict({"weight": state["language_projection.weight"], "bias": state["language_projection.bias"]})
    query_tokens = state["query_tokens"]
    width = qconfig.encoder_hidden_size
    mergers = {"none": vb.TokenMerger("none"), "spatial_pool": vb.spatial_pool(2), "temporal": vb.temporal(0.9),
               "concat_linear": vb.concat_linear(4, width)}
    mergers["concat_linear"].proj.load_state_dict({"weight": state["merger.proj.weight"], "bias": state["merger.proj.bias"]})
    load = time.perf_counter() - t0
    features = load_file(d / "features.safetensors")

    rows = []
    with torch.inference_mode():
        for clip in CLIPS:
            x = features[clip]
            for name in MERGERS:
                merger = mergers[name]

                def run_once():
                    a = time.perf_counter()
                    merged = merger(x)
                    b = time.perf_counter()
                    mask = vb.log_count_mask(merged.counts) if merged.counts is not None and merger.proportional_attention else None
                    tokens = merged.tokens
                    out = qformer(query_embeds=query_tokens.expand(tokens.shape[0], -1, -1), encoder_hidden_states=tokens,
                                  encoder_attention_mask=mask).last_hidden_state
                    projected = projection(out[:, :query_tokens.shape[1]])
                    return merged, projected, b - a, time.perf_counter() - b

                run_once()
                merge, qf = [], []
                for _ in range(runs):
                    merged, projected, m, q = run_once()
                    merge.append(m)
                    qf.append(q)
                flat = projected.flatten()
                rows.append({"clip": clip, "merger": name, "frames": x.shape[0], "tokens_in": x.shape[0] * x.shape[1],
                             "tokens_to_qformer": merged.tokens.shape[0] * merged.tokens.shape[1],
                             "sequences": merged.tokens.shape[0], "output_shape": list(projected.shape),
                             "merge_seconds": merge, "qformer_seconds": qf,
                             "checksum": float(flat[:1000].sum()), "abs_mean": float(flat.abs().mean())})
    print(json.dumps({"rows": rows, "load_seconds": load, "threads": torch.get_num_threads(), "torch": torch.__version__,
                      "attn_implementation": qformer.config._attn_implementation}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
