"""PyTorch side of the text benchmark: the same checkpoint, thread count, prompt and greedy loop
as `vidlm-bench text`. Prints one JSON line in vidlm-bench's form.

The loop is what transformers' generate() does for greedy search, without its logits-processor
overhead: one forward pass over the prompt with a DynamicCache (logits for the last position
only), then one single-token forward pass per new token, argmax each time, no stop token.
prefill = start → first token; decode = first → last token (new − 1 forward passes).

    torch_bench.py MODEL_DIR DTYPE PROMPT_TOKENS NEW_TOKENS RUNS THREADS
"""
import json
import sys
import time

import torch
from transformers import AutoModelForCausalLM, DynamicCache


def generate(model, ids: torch.Tensor, new_tokens: int):
    stamps, tokens = [], []
    start = time.perf_counter()
    cache = DynamicCache(config=model.config)
    out = model(input_ids=ids, past_key_values=cache, use_cache=True, logits_to_keep=1)
    token = int(out.logits[0, -1].argmax())
    stamps.append(time.perf_counter())
    tokens.append(token)
    for _ in range(new_tokens - 1):
        out = model(input_ids=torch.tensor([[token]]), past_key_values=out.past_key_values, use_cache=True)
        token = int(out.logits[0, -1].argmax())
        stamps.append(time.perf_counter())
        tokens.append(token)
    return start, stamps, tokens


def main(folder: str, dtype: str, prompt_tokens: int, new_tokens: int, runs: int, threads: int) -> None:
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=getattr(torch, dtype)).eval()
    load = time.perf_counter() - t0
    vocab = model.config.vocab_size
    ids = torch.tensor([[1 + (i * 7919) % (vocab - 1) for i in range(prompt_tokens)]])
    prefill, decode = [], []
    with torch.inference_mode():
        generate(model, ids, 2)  # warm-up
        for _ in range(runs):
            start, stamps, tokens = generate(model, ids, new_tokens)
            prefill.append(stamps[0] - start)
            decode.append(stamps[-1] - stamps[0])
    print(json.dumps({"prefill_seconds": prefill, "decode_seconds": decode, "decode_steps": new_tokens - 1,
                      "prompt_tokens": prompt_tokens, "new_tokens": new_tokens, "tokens": tokens,
                      "load_seconds": load, "threads": torch.get_num_threads(), "torch": torch.__version__,
                      "attn_implementation": model.config._attn_implementation}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
