"""Randomized differential check of vidlm's tokenizers against Hugging Face `tokenizers` (through
transformers' PreTrainedTokenizerFast), on texts no fixture has:

    tools/.venv/bin/python tools/parity/sweep_tokenizer.py --first 0 --count 2000

Every tokenizer folder of Tests/Fixtures/tokenizers with a tokenizer.json (byte-level BPE as GPT-2, Qwen2 and
Llama 3 configure it, SentencePiece-style BPE with byte fallback as Llama 2, Metaspace, WordPiece with BERT's
normalizer, RoBERTa) encodes random texts: words, digits, punctuation, whitespace runs (spaces, tabs,
newlines, CR, NBSP, ideographic space), contractions, accented and combining characters, CJK, emoji with
modifiers and ZWJ, control characters, lone surrogate-free code points from many scripts, and the
tokenizer's own added and special tokens glued to other text. Ids with and without special tokens, and the
decoded text with and without skipping special tokens, must equal the library's. Needs
`swift build -c release --product vidlm-bench`. Exits non-zero on a difference.
"""
from __future__ import annotations

import argparse
import pathlib
import random
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools" / "parity"))
from sweep_common import bench_batch  # noqa: E402

TOKENIZERS = ROOT / "Tests" / "Fixtures" / "tokenizers"

WORDS = ["the", "The", "video", "shows", "a", "red", "square", "don't", "it's", "I'm", "we'll", "they've", "HELLO",
         "naïve", "café", "Straße", "日本語", "中文字", "한국어", "Привет", "مرحبا", "שלום", "हिन्दी", "ไทย", "Ελληνικά",
         "👋🏽", "👨‍👩‍👧", "🏳️‍🌈", "❤️", "e\u0301", "\u00e9", "ﬁ", "Ⅻ", "①", "½", "x²", "3.14", "1,000", "2024", "0x1F",
         "hello_world", "snake-case", "CamelCase", "URL:https://a.b/c?d=e", "email@x.org", "#tag", "@user", "$5", "100%",
         "...", "!!", "??", "—", "–", "“quoted”", "‘single’", "(paren)", "[brackets]", "{braces}", "<html>", "a/b", "\\",
         "`code`", "~", "^", "|", "*", "+=", "->", "=>", "::", ";", "'", '"']
SPACES = [" ", " ", " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", "\u00a0", "\u3000", " \n ", "\u2028", "\u200b", "\f", "\v", ""]


def random_text(rng: random.Random, specials: list[str]) -> str:
    out = []
    for _ in range(rng.randrange(0, 12)):
        r = rng.random()
        if r < 0.6:
            out.append(rng.choice(WORDS))
        elif r < 0.7 and specials:
            out.append(rng.choice(specials))
        elif r < 0.85:
            out.append(chr(rng.choice([rng.randrange(0x20, 0x7f), rng.randrange(0xa0, 0x3000), rng.randrange(0x4e00, 0x9fff),
                                       rng.randrange(0x1f300, 0x1faff), rng.randrange(0x0, 0x20)])))
        else:
            out.append(str(rng.randrange(0, 10 ** rng.randrange(1, 8))))
        out.append(rng.choice(SPACES))
    text = "".join(out)
    if rng.random() < 0.2:
        text = rng.choice(SPACES) + text + rng.choice(SPACES)
    return text


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--bench", default=str(ROOT / ".build" / "release" / "vidlm-bench"))
    args = parser.parse_args()
    from transformers import PreTrainedTokenizerFast
    folders = sorted(p.parent for p in TOKENIZERS.glob("*/tokenizer.json"))
    tokenizers = {f: PreTrainedTokenizerFast.from_pretrained(str(f)) for f in folders}
    cases, expected = [], []
    for seed in range(args.first, args.first + args.count):
        rng = random.Random(seed)
        folder = rng.choice(folders)
        tok = tokenizers[folder]
        specials = [t for t in tok.get_added_vocab()][:40]
        text = random_text(rng, specials)
        add = rng.random() < 0.5
        ids = tok(text, add_special_tokens=add).input_ids
        cases.append({"tokenizer": str(folder), "text": text, "add_special_tokens": add})
        expected.append({"ids": ids, "decoded": tok.decode(ids), "decoded_skip": tok.decode(ids, skip_special_tokens=True)})
    got = bench_batch(args.bench, "tokenize", cases)
    failures = 0
    for seed, case, want, result in zip(range(args.first, args.first + args.count), cases, expected, got):
        for key in ("ids", "decoded", "decoded_skip"):
            if result[key] != want[key]:
                failures += 1
                if failures <= 15:
                    print(f"seed {seed} {pathlib.Path(case['tokenizer']).name} add_special_tokens={case['add_special_tokens']} "
                          f"text {case['text']!r}: {key}\n  tokenizers: {want[key]!r}\n  vidlm:      {result[key]!r}")
                break
    per = {}
    for case in cases:
        per[pathlib.Path(case["tokenizer"]).name] = per.get(pathlib.Path(case["tokenizer"]).name, 0) + 1
    print(f"{len(cases)} texts ({', '.join(f'{k} {v}' for k, v in sorted(per.items()))}): {len(cases) - failures} equal, {failures} differ")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
