"""Builds the tokenizer parity fixtures under Tests/Fixtures/tokenizers/ (no downloads).

    tools/.venv/bin/python tools/parity/make_tokenizer_fixtures.py

The Hugging Face `tokenizers` library (pinned in tools/requirements.txt) is the oracle. The script
trains small tokenizers of each kind the Swift `Tokenizer` supports from a built-in corpus, saves
each as `<kind>/tokenizer.json` + `<kind>/tokenizer_config.json`, writes the tricky test strings
to `corpus.json` and the oracle's answers to `expected_<kind>.json`:

  cases[i]        for corpus string i: `ids` (no special tokens), `ids_special` (with them;
                  transformers' AutoTokenizer on the folder is checked to agree with tokenizers),
                  `decoded` / `decoded_skip` (transformers' decode of ids_special, keeping /
                  skipping special tokens: the library's decode, then transformers'
                  clean_up_tokenization where the config asks for it on a non-BPE model)
  decode_cases    random id sequences (bytes split mid-character, unknown ids) and their decodes
  token_ids       token -> id probes; vocab_size = get_vocab_size(with_added_tokens=True)

`expected_components.json` holds single normalizers / pre-tokenizers / decoders (their JSON
config) with the oracle's output on every corpus string, and
Sources/VidLMModels/Text/Tokenizer/BertCharacterTables.swift is generated from the oracle's BERT
character classes (the library's `unicode_categories` tables are older than Swift's Unicode data).
"""
import json
import os
import random
import shutil
import sys

import tokenizers
from tokenizers import AddedToken, Regex, Tokenizer
from tokenizers import decoders as D
from tokenizers import models, trainers
from tokenizers import normalizers as N
from tokenizers import pre_tokenizers as P
from tokenizers import processors as PP

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "tokenizers")
TABLES = os.path.join(ROOT, "Sources", "VidLMModels", "Text", "Tokenizer", "BertCharacterTables.swift")

GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
LLAMA3_PATTERN = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
QWEN2_PATTERN = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""

# ---------------------------------------------------------------------------------------------
# Training text: a few KB of varied text.
TRAIN = [
    "The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs away into the forest.",
    "A video-language model reads frames from a clip and answers questions about what happens in it.",
    "In the first scene, a woman walks her dog along the beach while the sun sets behind the hills.",
    "The man in the red jacket picks up a ball, throws it, and the children laugh and run after it.",
    "Describe the video in detail. What is the person doing? How many people are there in the room?",
    "I'm sure it's fine; they'll say we've done what you'd want, and I don't think they're wrong.",
    "Numbers: 0 1 2 3 4 5 6 7 8 9 10 42 100 256 1024 2048 3.14159 2.71828 1,000,000 2024-05-17 12:30:45",
    "Prices went from $19.99 to $24.50 (an increase of 22.6%), while the euro fell to 0.92 per dollar.",
    "naïve café résumé coöperate façade déjà vu über Straße Größe Ångström señor piñata",
    "Ça va? Où êtes-vous allés hier soir? Je suis allé au cinéma avec mes amis français.",
    "Der schnelle braune Fuchs springt über den faulen Hund. Äpfel, Öl und Übermut.",
    "El niño comió una manzana mientras la señora leía el periódico en el jardín.",
    "Tiếng Việt có nhiều dấu: Xin chào, thế giới! Tôi đang học lập trình.",
    "日本語のテキストです。カタカナとひらがなと漢字が混ざっています。今日はいい天気ですね。",
    "中文文本，包括标点符号。你好，世界！我们正在测试分词器的行为。视频里有一只猫。",
    "한국어 텍스트입니다. 안녕하세요, 세계! 비디오에 고양이가 있습니다.",
    "Привет, мир! Это тестовый текст на русском языке. Ёжик в тумане.",
    "Ελληνικά: Γειά σου κόσμε. Η αλεπού πηδά πάνω από τον σκύλο.",
    "مرحبا بالعالم، هذا نص عربي للاختبار. القطة تجلس على الطاولة.",
    "שלום עולם, זה טקסט בעברית לבדיקה. החתול יושב על השולחן.",
    "नमस्ते दुनिया, यह हिंदी में एक परीक्षण पाठ है।",
    "Emoji time 😀 😂 👍 👍🏽 ❤️ 🎉 🐱 🐶 🚀 🌍 — and a family 👨‍👩‍👧‍👦 with a flag 🇯🇵.",
    "def tokenize(text):\n    ids = [vocab[t] for t in text.split()]\n    return ids  # list of ints\n",
    "for (int i = 0; i < n; ++i) {\n\tsum += a[i] * b[i];\n}\n",
    "func encode(_ text: String) -> [Int] {\n    let pieces = text.split(separator: \" \")\n    return pieces.map { $0.count }\n}",
    '{"model_type": "llama", "hidden_size": 4096, "layers": [1, 2, 3], "name": null, "ok": true}',
    "<html><body class=\"main\"><p>Hello &amp; welcome to the page.</p></body></html>",
    "https://www.example.com/path/to/page?query=value&other=123#section and user@example.org",
    "SELECT name, age FROM users WHERE age > 30 ORDER BY name ASC LIMIT 10;",
    "    indented line\n\n\nafter blank lines\r\nwindows line ending\ttab\ttabs",
    "THE END IS NEAR! SHOUTING IN ALL CAPS IS RUDE, ISN'T IT? WE'LL SEE, WE'VE SEEN.",
    "Supercalifragilisticexpialidocious is a long word; antidisestablishmentarianism is longer.",
    "The assistant answered: the cat is on the mat, the video shows two people talking.",
    "User: What happens at the end of the clip? Assistant: The car drives away.",
]

# ---------------------------------------------------------------------------------------------
# The tricky strings every tokenizer is checked on.
CORPUS = [
    "",
    "Hello world",
    " Hello world",
    "Hello world ",
    "   leading and trailing   ",
    "Hello, World! How are you?",
    "The quick brown fox jumps over the lazy dog.",
    "I'm sure it's fine; they'll say we've done what you'd want.",
    "IT'S ALL CAPS: I'M SHOUTING, THEY'RE, WE'VE, YOU'LL, HE'D, 'S 'T",
    "rock 'n' roll, 'quoted', ‘curly’ “double” — dash – en",
    "naïve café résumé coöperate Ångström façade",
    "Ça va? Où êtes-vous? Größe Straße ĳ ǅ Ǆ",
    "Tiếng Việt có dấu: Xin chào thế giới",
    "e\u0301 a\u0308 n\u0303 o\u0302\u0323 stacked\u0301\u0302\u0303 marks",
    "日本語のテキストとカタカナ、ひらがな。",
    "中文文本，包括标点符号。你好世界！",
    "한국어 텍스트입니다. 안녕하세요",
    "Emoji: 😀 👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 ❤️ 🇯🇵 🧑🏿‍🚀",
    "🥲🫠🫨 new emoji and 👩🏻‍❤️‍💋‍👨🏼",
    "مرحبا بالعالم، هذا نص عربي.",
    "שלום עולם, זה טקסט בעברית.",
    "नमस्ते दुनिया",
    "Привет, мир! Ёжик в тумане.",
    "ΣΊΣΥΦΟΣ σοφός ΟΔΟΣ",
    "İstanbul ıI",
    "tabs\tand\ttabs\t\tdouble",
    "line1\nline2\r\nline3\n\n\nline4",
    "multiple     spaces    here",
    "   ",
    " ",
    "\n",
    "\t \n \r\n ",
    "\u00a0",
    "a\u00a0b\u2003c\u3000d\u2028e",
    "zero\u200bwidth\u200djoiner\ufeffbom",
    "control\x00chars\x01\x07\x1b[0m\x7f\x85end\x0b\x0c",
    "\ufffd replacement char",
    "1234567890 3.14159 -42 1,000,000 1e-9 0x1F",
    "12345678901234567890",
    "Prices: $19.99, €5, £3.50, ¥1000, ₹75",
    "https://www.example.com/path/to/page?query=value&other=123#fragment",
    "user.name+tag@example.co.uk",
    "def foo(x):\n    return x ** 2  # square\n",
    "for (int i = 0; i < n; ++i) { sum += a[i]; }",
    "func tokenize(_ text: String) -> [Int] {\n\tlet ids = [1, 2, 3]\n}",
    '{"key": "value", "list": [1, 2, 3], "nested": {"a": null}}',
    "<html><body class=\"main\">Hello &amp; welcome</body></html>",
    "supercalifragilisticexpialidocious" * 8,
    "x" * 300,
    "1234567890" * 25,
    "😀" * 60,
    "pneumonoultramicroscopicsilicovolcanoconiosis" * 5 + " end",
    "<|im_start|>user\nDescribe <image> please<|im_end|>\n<|im_start|>assistant\n",
    "<s>[INST] What is in this <image>? [/INST]</s>",
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
    "[CLS] hello [SEP] world [MASK] end [DEC]",
    "<image><image><image>",
    "text<image>text",
    "  <image>  spaced  ",
    "a <|sep|>  b <mask> c  <mask>",
    "partial <ima ge> <|im_start| <s [CLS",
    "<|endoftext|>the end<|endoftext|>",
    "<tool_call>{\"name\": \"f\"}</tool_call>",
    "dlrow olleh dlrow! xdlrow dlrowx _dlrow dlrow_",
    "Foo Bar foo bar FOO BAR foobar",
    "<video> and <video>",
    "Don't stop-believing... wait!!! ??? ¿Qué? ¡Sí!",
    "___init___ __name__ a_b_c",
    "MiXeD CaSe WoRdS and ALLCAPS",
    "ﬁ ﬂ ﬀ ligatures ① ② ³ ½ ™ ㍿ Ⅻ",
    "Ｆｕｌｌｗｉｄｔｈ　ＡＢＣ　１２３",
    "Math 𝐀𝐁𝐂 𝔸𝔹ℂ ∑∫√∞ ≤≥≠",
    "new letters \u088f\u0c5c \U00011de0\U00011de1 old ok",
    "end with newline\n",
    "end with spaces   ",
    "a",
    "?",
    "'",
    "'s",
    "  \n  x",
    "x \n\n  y",
    "\u0301 lone combining mark",
    "The video shows a cat 🐱 sitting on a mat. 猫がいます。",
    "cafe\u0301 café cafe\u0301",
    "tags \U000e0041\u0301 \U00010041\u0308 \U00011099\U000110ba",
]


def random_strings(count, seed=2024):
    """Seeded random strings: tricky pieces mixed with code points from every plane."""
    rng = random.Random(seed)
    pieces = list("aAbBsStTdDmMlLrReEvV'''   \t\n\r\n0123456789.,!?-_()[]{}<>|/\\\"#$%&*+=:;@^`~") + [
        "\u00a0", "\u3000", "\u2028", "\x0b", "\x85", "\x00", "\x1b", "é", "e\u0301", "\u0301", "ñ", "ß", "İ", "ı", "Σ",
        "日", "本", "한", "🙂", "👍🏽", "👨\u200d👩\u200d👧", "\u200d", "\ufe0f", "½", "²", "①", "٣", "\u088f", "ſ", "K",
        "<image>", "<s>", "</s>", "[CLS]", "<|im_start|>", "<mask>", "dlrow", "Foo Bar", "<video>", "<0x41>", "▁", "Ġ",
        "##"]

    def code_point():
        while True:
            c = rng.choice([rng.randrange(0x20, 0x250), rng.randrange(0x250, 0x3000), rng.randrange(0x3000, 0x10000),
                            rng.randrange(0x10000, 0x30000), rng.randrange(0xE0000, 0xE0100)])
            if not 0xD800 <= c < 0xE000:
                return chr(c)

    return ["".join(rng.choice(pieces) if rng.random() < 0.6 else code_point() for _ in range(rng.randint(1, 20)))
            for _ in range(count)]


CORPUS += random_strings(60)


def alphabet(lines, extra=""):
    """Every character of `lines`, sorted: an explicit alphabet keeps the trainers' ids stable."""
    return sorted(set("".join(lines)) | set(extra))


def limited(lines, size):
    """The training lines restricted to their `size` most frequent characters (ties broken by code
    point), so that rarer characters go to byte fallback / [UNK]. The trainers' own limit_alphabet
    breaks ties in hash order, which would make the fixtures differ from run to run."""
    counts = {}
    for line in lines:
        for ch in line:
            counts[ch] = counts.get(ch, 0) + 1
    keep = {ch for ch, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:size]}
    return ["".join(ch for ch in line if ch in keep) for line in lines]

TRICKY_TOKENS = ["<image>", "<|im_start|>", "<|endoftext|>", "[CLS]", "[UNK]", "<unk>", "<s>", "</s>",
                 "<0x0A>", "▁the", "Ġthe", "the", "##s", "hello", "not-a-token-at-all"]


def added(content, special=True, normalized=None, lstrip=False, rstrip=False, single_word=False):
    return AddedToken(content, special=special, normalized=(not special) if normalized is None else normalized,
                      lstrip=lstrip, rstrip=rstrip, single_word=single_word)


def added_json(token):
    return {"__type": "AddedToken", "content": token.content, "lstrip": token.lstrip, "normalized": token.normalized,
            "rstrip": token.rstrip, "single_word": token.single_word, "special": token.special}


# ---------------------------------------------------------------------------------------------
# The tokenizers.

def byte_level_bpe(vocab_size, specials, pre_tokenizer, normalizer=None):
    tok = Tokenizer(models.BPE())
    if normalizer is not None:
        tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=P.ByteLevel.alphabet(),
                                  special_tokens=specials, show_progress=False)
    tok.train_from_iterator(TRAIN, trainer)
    tok.decoder = D.ByteLevel()
    return tok


def make_gpt2():
    tok = byte_level_bpe(1000, [added("<|endoftext|>")], P.ByteLevel(add_prefix_space=False, use_regex=True))
    tok.post_processor = PP.ByteLevel(trim_offsets=True)
    tok.add_special_tokens([added("<|im_start|>"), added("<|im_end|>"), added("<image>")])
    tok.add_tokens([added("dlrow", special=False, single_word=True), added("Foo Bar", special=False)])
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<|endoftext|>",
              "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>", "model_max_length": 1024,
              "clean_up_tokenization_spaces": False}
    return tok, config, {"legacy_merges": True}


def make_roberta():
    specials = [added("<s>"), added("<pad>"), added("</s>"), added("<unk>"), added("<mask>", lstrip=True)]
    tok = byte_level_bpe(900, specials, P.ByteLevel(add_prefix_space=True, use_regex=True))
    tok.post_processor = PP.RobertaProcessing(("</s>", 2), ("<s>", 0), trim_offsets=True, add_prefix_space=True)
    tok.add_special_tokens([added("<image>", rstrip=True)])
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>",
              "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": added_json(specials[4]),
              "model_max_length": 512, "clean_up_tokenization_spaces": False}
    return tok, config, {}


def make_llama3():
    specials = [added(t) for t in ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                                   "<|end_header_id|>", "<|eot_id|>"]]
    pre = P.Sequence([P.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
                      P.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)])
    tok = byte_level_bpe(1200, specials, pre)
    tok.model.ignore_merges = True
    tok.post_processor = PP.Sequence([
        PP.ByteLevel(trim_offsets=False),
        PP.TemplateProcessing(single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|>:1 $B:1",
                              special_tokens=[("<|begin_of_text|>", 0)])])
    tok.add_special_tokens([added("<image>"), added("<|sep|>", lstrip=True, rstrip=True)])
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<|begin_of_text|>",
              "eos_token": "<|eot_id|>", "model_max_length": 131072, "clean_up_tokenization_spaces": True}
    return tok, config, {}


def make_qwen2():
    specials = [added("<|endoftext|>"), added("<|im_start|>"), added("<|im_end|>")]
    pre = P.Sequence([P.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
                      P.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)])
    tok = byte_level_bpe(1100, specials, pre, normalizer=N.NFC())
    tok.post_processor = PP.ByteLevel(trim_offsets=False)
    tok.add_special_tokens([added("<|vision_start|>"), added("<|vision_end|>"), added("<|image_pad|>")])
    tok.add_tokens([added("<tool_call>", special=False, normalized=False),
                    added("</tool_call>", special=False, normalized=False)])
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": None, "eos_token": "<|im_end|>",
              "pad_token": "<|endoftext|>", "add_eos_token": False, "unk_token": None,
              "model_max_length": 32768, "clean_up_tokenization_spaces": False}
    return tok, config, {}


_SP_CACHE = {}


def sentencepiece_bpe():
    """A LLaMA-2-style vocabulary: <unk> <s> </s>, the 256 <0xNN> byte tokens, then trained pieces."""
    if "sp" in _SP_CACHE:
        return _SP_CACHE["sp"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = P.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    lines = limited(TRAIN, 110)
    trainer = trainers.BpeTrainer(vocab_size=700, special_tokens=["<unk>", "<s>", "</s>"], show_progress=False,
                                  initial_alphabet=alphabet(lines, "▁"))
    tok.train_from_iterator(lines, trainer)
    trained = json.loads(tok.to_str())["model"]
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    for piece, _ in sorted(trained["vocab"].items(), key=lambda kv: kv[1]):
        if piece not in vocab:
            vocab[piece] = len(vocab)
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ", 1)) for m in trained["merges"]]
    _SP_CACHE["sp"] = (vocab, merges)
    return vocab, merges


def make_llama2():
    vocab, merges = sentencepiece_bpe()
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = N.Sequence([N.Prepend("▁"), N.Replace(" ", "▁")])
    tok.decoder = D.Sequence([D.Replace("▁", " "), D.ByteFallback(), D.Fuse(), D.Strip(" ", 1, 0)])
    tok.post_processor = PP.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)])
    tok.add_special_tokens([added("<unk>"), added("<s>"), added("</s>"), added("<image>")])
    tok.add_tokens([added("<video>", special=False, normalized=True)])
    config = {"tokenizer_class": "PreTrainedTokenizerFast",
              "bos_token": added_json(added("<s>")), "eos_token": added_json(added("</s>")),
              "unk_token": added_json(added("<unk>")), "pad_token": None,
              "add_bos_token": True, "add_eos_token": False, "model_max_length": 4096, "legacy": True,
              "clean_up_tokenization_spaces": False}
    return tok, config, {}


def make_metaspace():
    vocab, merges = sentencepiece_bpe()
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.pre_tokenizer = P.Metaspace(replacement="▁", prepend_scheme="first", split=False)
    tok.decoder = D.Sequence([D.Metaspace(replacement="▁", prepend_scheme="first", split=False), D.ByteFallback(),
                              D.Fuse()])
    tok.post_processor = PP.TemplateProcessing(single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", 1)])
    tok.add_special_tokens([added("<unk>"), added("<s>"), added("</s>"), added("[INST]"), added("[/INST]"),
                            added("<image>")])
    # transformers 5 ignores add_bos_token / add_eos_token when tokenizer.json exists: the
    # post-processor ("<s> $A") stays, so this config checks they are not applied on top.
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>",
              "unk_token": "<unk>", "add_bos_token": True, "add_eos_token": True,
              "model_max_length": 1000000000000000019884624838656, "clean_up_tokenization_spaces": False}
    return tok, config, {}


def make_bert():
    """An uncased BERT WordPiece. The vocabulary is built from a BPE trained on the normalized text
    (every learned piece as a word start and as a "##" continuation): the WordPiece trainer assigns
    its "##" alphabet in hash order, so its output would change from run to run."""
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    normalizer = N.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True)
    lines = limited([normalizer.normalize_str(line) for line in TRAIN], 150)
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = P.BertPreTokenizer()
    bpe.train_from_iterator(lines, trainers.BpeTrainer(vocab_size=520, show_progress=False,
                                                        initial_alphabet=alphabet(lines)))
    pieces = [t for t, _ in sorted(bpe.get_vocab().items(), key=lambda kv: kv[1])]
    vocab = {t: i for i, t in enumerate(specials)}
    for piece in pieces:
        for t in (piece, "##" + piece):
            vocab.setdefault(t, len(vocab))
    tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizer
    tok.pre_tokenizer = P.BertPreTokenizer()
    tok.decoder = D.WordPiece(prefix="##", cleanup=True)
    tok.post_processor = PP.BertProcessing(("[SEP]", tok.token_to_id("[SEP]")), ("[CLS]", tok.token_to_id("[CLS]")))
    tok.add_special_tokens([added(t) for t in specials[:4]] + [added("[MASK]", lstrip=True), added("[DEC]")])
    tok.add_tokens([added("Foo Bar", special=False, normalized=True), added("dlrow", special=False, single_word=True)])
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "do_lower_case": True, "cls_token": "[CLS]",
              "sep_token": "[SEP]", "pad_token": "[PAD]", "unk_token": "[UNK]", "mask_token": "[MASK]",
              "bos_token": "[DEC]", "model_max_length": 512, "clean_up_tokenization_spaces": True}
    return tok, config, {"pretty": True}


KINDS = {
    "gpt2": make_gpt2,
    "roberta": make_roberta,
    "llama3": make_llama3,
    "qwen2": make_qwen2,
    "llama2": make_llama2,
    "metaspace": make_metaspace,
    "bert": make_bert,
}


def save(tok, config, options, folder):
    os.makedirs(folder, exist_ok=True)
    data = json.loads(tok.to_str())
    if options.get("legacy_merges"):
        data["model"]["merges"] = [" ".join(m) for m in data["model"]["merges"]]
    with open(os.path.join(folder, "tokenizer.json"), "w", encoding="utf-8") as f:
        if options.get("pretty"):
            json.dump(data, f, ensure_ascii=False, indent=2)
        else:
            json.dump(data, f, ensure_ascii=False, separators=(",", ":"))
    with open(os.path.join(folder, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, ensure_ascii=False, indent=2)


def expected_for(kind, folder):
    tok = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
    from transformers import AutoTokenizer
    hf = AutoTokenizer.from_pretrained(folder)
    cases = []
    for text in CORPUS:
        ids = tok.encode(text, add_special_tokens=False).ids
        lib_special = tok.encode(text, add_special_tokens=True).ids
        ids_special = hf(text, add_special_tokens=True)["input_ids"]
        assert hf(text, add_special_tokens=False)["input_ids"] == ids, (kind, text)
        assert ids_special == lib_special, (kind, text, ids_special, lib_special)
        cases.append({
            "ids": ids,
            "ids_special": ids_special,
            "decoded": hf.decode(ids_special, skip_special_tokens=False),
            "decoded_skip": hf.decode(ids_special, skip_special_tokens=True),
        })
    rng = random.Random(1234 + sum(map(ord, kind)))
    size = tok.get_vocab_size(with_added_tokens=True)
    byte_ids = sorted(i for t, i in tok.get_vocab().items() if t.startswith("<0x") and len(t) == 6)
    decode_cases = []
    for n in range(40):
        length = rng.randint(1, 24)
        pool = byte_ids if (byte_ids and n % 3 == 0) else list(range(size + 3))
        ids = [rng.choice(pool) if rng.random() < 0.8 else rng.randrange(size + 3) for _ in range(length)]
        decode_cases.append({"ids": ids, "text": hf.decode(ids, skip_special_tokens=False),
                             "text_skip": hf.decode(ids, skip_special_tokens=True)})
    # The ids of every corpus string, cut in the middle: partial characters must decode alike.
    for text in CORPUS[10:24]:
        ids = tok.encode(text, add_special_tokens=False).ids
        for cut in (1, len(ids) // 2, len(ids) - 1):
            if 0 < cut < len(ids):
                part = ids[cut:] if cut % 2 else ids[:cut]
                decode_cases.append({"ids": part, "text": hf.decode(part, skip_special_tokens=False),
                                     "text_skip": hf.decode(part, skip_special_tokens=True)})
    token_ids = {t: tok.token_to_id(t) for t in TRICKY_TOKENS}
    return {
        "kind": kind,
        "tokenizers_version": tokenizers.__version__,
        "vocab_size": size,
        "bos_token_id": hf.bos_token_id,
        "eos_token_id": hf.eos_token_id,
        "pad_token_id": hf.pad_token_id,
        "unk_token_id": hf.unk_token_id,
        "token_ids": token_ids,
        "cases": cases,
        "decode_cases": decode_cases,
    }


# ---------------------------------------------------------------------------------------------
# Single components against the oracle.

def try_decode(decoder, tokens):
    """The oracle's decode, or None where the library panics (Strip's `stop` on an empty token)."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:  # keep Rust's panic message off the console
            os.dup2(null.fileno(), 2)
            return decoder.decode(tokens)
    except BaseException:  # pyo3's PanicException derives from BaseException
        return None
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def component_cases():
    out = {"normalizers": [], "pre_tokenizers": [], "decoders": []}

    def comp_json(obj):
        holder = Tokenizer(models.BPE())
        if isinstance(obj, N.Normalizer):
            holder.normalizer = obj
            return json.loads(holder.to_str())["normalizer"]
        if isinstance(obj, P.PreTokenizer):
            holder.pre_tokenizer = obj
            return json.loads(holder.to_str())["pre_tokenizer"]
        holder.decoder = obj
        return json.loads(holder.to_str())["decoder"]

    normalizers = [
        N.NFC(), N.NFD(), N.NFKC(), N.NFKD(), N.Lowercase(), N.Strip(), N.Strip(left=True, right=False),
        N.StripAccents(), N.Sequence([N.NFD(), N.StripAccents(), N.Lowercase()]),
        N.BertNormalizer(), N.BertNormalizer(lowercase=False), N.BertNormalizer(strip_accents=False, lowercase=True),
        N.BertNormalizer(strip_accents=True, lowercase=False, handle_chinese_chars=False, clean_text=False),
        N.Prepend("▁"), N.Replace("  ", " "), N.Replace("a", "AA"), N.ByteLevel(),
    ]
    for n in normalizers:
        out["normalizers"].append({"config": comp_json(n), "outputs": [n.normalize_str(s) for s in CORPUS]})

    pre = [
        P.ByteLevel(add_prefix_space=False, use_regex=True), P.ByteLevel(add_prefix_space=True, use_regex=True),
        P.ByteLevel(add_prefix_space=True, use_regex=False),
        P.Split(Regex(GPT2_PATTERN), "isolated"), P.Split(Regex(LLAMA3_PATTERN), "isolated"),
        P.Split(Regex(QWEN2_PATTERN), "isolated"), P.Split(Regex(LLAMA3_PATTERN), "removed", invert=True),
        P.Split(" ", "removed"), P.Split(" ", "isolated"), P.Split(" ", "merged_with_previous"),
        P.Split(" ", "merged_with_next"), P.Split(" ", "contiguous"), P.Split("  ", "isolated", invert=True),
        P.Split(Regex(r"\s+"), "removed"), P.Split(Regex(r"\d+"), "isolated"),
        P.Metaspace(prepend_scheme="first", split=False), P.Metaspace(prepend_scheme="always", split=True),
        P.Metaspace(prepend_scheme="never", split=True), P.Metaspace(prepend_scheme="always", split=False),
        P.BertPreTokenizer(), P.Whitespace(), P.WhitespaceSplit(), P.Digits(individual_digits=True),
        P.Digits(individual_digits=False), P.Punctuation(), P.Punctuation("removed"),
        P.Punctuation("merged_with_next"), P.CharDelimiterSplit("e"),
        P.Sequence([P.WhitespaceSplit(), P.Digits(True), P.Metaspace()]),
    ]
    for p in pre:
        out["pre_tokenizers"].append({"config": comp_json(p),
                                      "outputs": [[piece for piece, _ in p.pre_tokenize_str(s)] for s in CORPUS]})

    token_lists = [
        [], ["▁Hello", "▁world"], ["▁▁", "▁a", "b▁", "▁"], ["<0x41>", "<0xE2>", "<0x82>", "<0xAC>", "▁x"],
        ["<0xE2>", "<0x82>"], ["<0x41>", "<0x80>", "a", "<0xF0>"], ["Ġhello", "Ġworld", "!"], ["Ċ", "Ġ", "ĠĠ"],
        ["é", "<x>", "ðŁĺ", "Ģ"], ["hello", "##s", "world", ".", "don", "'", "t", "##n't", "is", "'s"],
        ["▁", "▁", "a"], ["  a  ", " b ", "c"], ["hello</w>", "wor", "ld</w>"], ["<s>", "▁Hi", "</s>"],
    ]
    decs = [
        D.Sequence([D.Replace("▁", " "), D.ByteFallback(), D.Fuse(), D.Strip(" ", 1, 0)]),
        D.Metaspace(), D.Metaspace(prepend_scheme="never"), D.Metaspace(prepend_scheme="first"),
        D.ByteFallback(), D.Fuse(), D.Strip(" ", 1, 1), D.Strip(" ", 2, 0), D.ByteLevel(),
        D.WordPiece(), D.WordPiece(cleanup=False), D.WordPiece(prefix="@@"), D.BPEDecoder(), D.Replace("a", "<A>"),
        D.Sequence([D.ByteFallback(), D.Metaspace(), D.Fuse()]), D.Sequence([D.Fuse(), D.Strip(" ", 1, 1)]),
    ]
    for d in decs:
        out["decoders"].append({"config": comp_json(d), "inputs": token_lists,
                                "outputs": [try_decode(d, ts) for ts in token_lists]})
    return out


# ---------------------------------------------------------------------------------------------
# BERT's character classes, as the oracle sees them.

def ranges(cps):
    out = []
    for c in cps:
        if out and out[-1][1] == c - 1:
            out[-1][1] = c
        else:
            out.append([c, c])
    return out


def bert_tables():
    cps = [c for c in range(0x110000) if not 0xD800 <= c < 0xE000]
    clean = N.BertNormalizer(clean_text=True, handle_chinese_chars=False, strip_accents=False, lowercase=False)
    bert_strip = N.BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=True, lowercase=False)
    strip = N.StripAccents()
    bert_pre = P.BertPreTokenizer()
    removed, nonspacing, combining, punct = [], [], [], []
    for c in cps:
        ch = chr(c)
        if clean.normalize_str("a" + ch + "b") == "ab":
            removed.append(c)
        if bert_strip.normalize_str(ch) == "":
            nonspacing.append(c)
        if strip.normalize_str(ch) == "":
            combining.append(c)
        if [p for p, _ in bert_pre.pre_tokenize_str("a" + ch + "b")] == ["a", ch, "b"]:
            punct.append(c)
    return {"other": ranges(removed), "nonspacing_mark": ranges(nonspacing), "combining_mark": ranges(combining),
            "punctuation": ranges(punct)}


def write_tables(tables):
    def flat(rs):
        nums = [f"0x{v:X}" for r in rs for v in r]
        lines = []
        for i in range(0, len(nums), 12):
            lines.append("        " + ", ".join(nums[i:i + 12]) + ",")
        return "\n".join(lines)
    src = f"""// Generated by tools/parity/make_tokenizer_fixtures.py from tokenizers {tokenizers.__version__}; do not edit.
//
// The tokenizers library classifies characters for BERT with the `unicode_categories` crate, whose
// tables are older than Swift's Unicode data: these are its classes exactly, as sorted inclusive
// [first, last] code-point pairs.

enum BertCharacterTables {{
    /// Removed by BertNormalizer's clean_text: Cc (but \\t \\n \\r), Cf, Co, plus U+0000 and U+FFFD.
    static let other: [UInt32] = [
{flat(tables["other"])}
    ]

    /// Removed by BertNormalizer's strip_accents (after NFD): Mn.
    static let nonspacingMark: [UInt32] = [
{flat(tables["nonspacing_mark"])}
    ]

    /// Removed by the StripAccents normalizer: Mn, Mc and Me.
    static let combiningMark: [UInt32] = [
{flat(tables["combining_mark"])}
    ]

    /// Split off by BertPreTokenizer: ASCII punctuation and the P* categories.
    static let punctuation: [UInt32] = [
{flat(tables["punctuation"])}
    ]
}}
"""
    with open(TABLES, "w", encoding="utf-8") as f:
        f.write(src)


def main():
    only = set(sys.argv[1:])
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "corpus.json"), "w", encoding="utf-8") as f:
        json.dump(CORPUS, f, ensure_ascii=False, indent=1)
    for kind, make in KINDS.items():
        if only and kind not in only:
            continue
        folder = os.path.join(OUT, kind)
        shutil.rmtree(folder, ignore_errors=True)
        tok, config, options = make()
        save(tok, config, options, folder)
        expected = expected_for(kind, folder)
        with open(os.path.join(OUT, f"expected_{kind}.json"), "w", encoding="utf-8") as f:
            json.dump(expected, f, ensure_ascii=False, separators=(",", ":"))
        print(f"{kind}: vocab {expected['vocab_size']}, {len(expected['cases'])} strings, "
              f"{len(expected['decode_cases'])} decode cases")
    if not only or "components" in only:
        with open(os.path.join(OUT, "expected_components.json"), "w", encoding="utf-8") as f:
            json.dump(component_cases(), f, ensure_ascii=False, separators=(",", ":"))
        print("components written")
    if not only or "tables" in only:
        write_tables(bert_tables())
        print(f"wrote {os.path.relpath(TABLES, ROOT)}")


if __name__ == "__main__":
    main()
