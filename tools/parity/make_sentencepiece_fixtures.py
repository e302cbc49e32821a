"""Builds the SigLIP SentencePiece tokenizer fixtures (no downloads, deterministic):

    PYTHONPATH=<sentencepiece> tools/.venv/bin/python tools/parity/make_sentencepiece_fixtures.py

(`sentencepiece` is pinned in tools/requirements.txt.) Trains two small SentencePiece models on a generated
corpus with the library's defaults (nmt_nfkc normalization, so each carries a precompiled character map; dummy
prefix, extra-whitespace removal): a unigram model and a BPE model with byte fallback, each with a user-defined
symbol. Each is saved as transformers 5.23's `SiglipTokenizer` (what AutoTokenizer builds for a SigLIP checkpoint
that has only spiece.model) and reloaded through AutoTokenizer; the oracle ids are
tokenizer(text, padding="max_length", max_length=64, truncation=True) for a spread of texts.

Writes Tests/Fixtures/tokenizers/siglip_spiece_{unigram,bpe}/: spiece.model, tokenizer_config.json, cases.json.
"""
from __future__ import annotations

import json
import pathlib
import random
import shutil
import sys
import tempfile

import sentencepiece as spm
import transformers
from transformers import AutoTokenizer, SiglipConfig, SiglipTokenizer

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "Tests" / "Fixtures" / "tokenizers"

TEXTS = [
    "a photo of a cat.", "A Photo of a CAT!", "", " ", "hello,   world!!", "  leading and trailing  ",
    "tabs\tand\nnewlines\r\nhere", "café naïve résumé", "ΣΟΦΟΣ and σοφος", "猫 and 犬 テスト", "ＦＵＬＬ　ｗｉｄｔｈ ①②",
    "emoji 😀😀 here", "don't stop—the end…", "a</s>b", "</s>", "x <unk> y", "\u2581already\u2581escaped",
    "\u00a0nbsp\u2003em\u3000ideographic", "İstanbul ǅ ß", "<mask>cat <mask>", "(((quoted))) [brackets] {braces}",
    "3.14 + 2,718 = 5.858", "zero\u200bwidth", "x" * 90, " ".join(["a photo of the red ball"] * 12),
]


def corpus() -> list[str]:
    random.seed(20261213)
    words = ("a photo of the cat dog red ball two yellow squares running on grass in snow blue car person eating pizza "
             "night city street old man woman child playing music guitar").split()
    syl = ["ka", "to", "ri", "men", "sol", "ver", "pa", "lu", "ing", "er", "th", "st", "qu", "ox", "zy"]
    lines = []
    for _ in range(3000):
        ws = [random.choice(words) if random.random() < 0.6 else "".join(random.choice(syl) for _ in range(random.randint(1, 4)))
              for _ in range(random.randint(3, 12))]
        lines.append(" ".join(ws))
    lines += ["café naïve résumé", "Ünïcödé テスト 猫 犬", "hello, world! (it's) 3.14 — “quoted”", "ＦＵＬＬ　ｗｉｄｔｈ"] * 20
    return lines


def main():
    transformers.logging.set_verbosity_error()
    with tempfile.TemporaryDirectory() as tmp:
        text = pathlib.Path(tmp) / "corpus.txt"
        text.write_text("\n".join(corpus()))
        for kind, fallback in [("unigram", False), ("bpe", True)]:
            out = OUT / f"siglip_spiece_{kind}"
            if out.exists():
                shutil.rmtree(out)
            out.mkdir(parents=True)
            prefix = pathlib.Path(tmp) / kind
            spm.SentencePieceTrainer.train(
                input=str(text), model_prefix=str(prefix), vocab_size=300, model_type=kind, character_coverage=0.98,
                byte_fallback=fallback, pad_id=-1, eos_id=1, unk_id=2, bos_id=-1, eos_piece="</s>", unk_piece="<unk>",
                user_defined_symbols=["<mask>"], minloglevel=2, num_threads=1)
            shutil.copy(f"{prefix}.model", out / "spiece.model")
            SiglipTokenizer(vocab_file=str(out / "spiece.model")).save_pretrained(out)
            SiglipConfig().save_pretrained(pathlib.Path(tmp) / f"{kind}-config")
            shutil.copy(pathlib.Path(tmp) / f"{kind}-config" / "config.json", out / "config.json")
            tok = AutoTokenizer.from_pretrained(out)
            (out / "config.json").unlink()
            assert type(tok).__name__ == "SiglipTokenizer", type(tok)
            cases = []
            for t in TEXTS:
                enc = tok(t, padding="max_length", max_length=64, truncation=True)
                cases.append({"text": t, "tokens": tok.tokenize(t), "input_ids": enc["input_ids"],
                              "attention_mask": enc["attention_mask"]})
            (out / "cases.json").write_text(json.dumps({
                "generator": "tools/parity/make_sentencepiece_fixtures.py",
                "versions": {"transformers": transformers.__version__, "sentencepiece": spm.__version__},
                "model_type": kind, "byte_fallback": fallback, "tokenizer_class": type(tok).__name__,
                "how_called": "AutoTokenizer(dir)(text, padding='max_length', max_length=64, truncation=True)",
                "cases": cases}, ensure_ascii=False, indent=1) + "\n")
            for f in out.iterdir():
                if f.name not in ("spiece.model", "tokenizer_config.json", "cases.json"):
                    f.unlink()
            print(f"wrote {out.relative_to(ROOT)}: {sum(f.stat().st_size for f in out.iterdir())} bytes")


if __name__ == "__main__":
    main()
