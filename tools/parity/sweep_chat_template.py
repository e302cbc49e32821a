"""Randomized differential check of vidlm's chat-template engine against transformers' apply_chat_template
(jinja2), on conversations no fixture has:

    tools/.venv/bin/python tools/parity/sweep_chat_template.py --first 0 --count 200

Per seed: a random conversation (optional system turn; user / assistant / tool turns, alternating or not;
string content or lists of text / image / video parts; text with quotes, braces, Jinja-looking markup,
control characters, non-ASCII and surrounding whitespace; empty content; assistant tool calls; reasoning
content; tools and documents lists) rendered with every template of Tests/Fixtures/chat_templates/templates,
with and without the generation prompt, by `tokenizer.apply_chat_template(..., tokenize=False)` and by vidlm
(`vidlm-bench template-render`). Every case must give the same text, or both must fail (a template that
raises for this conversation). Needs `swift build -c release --product vidlm-bench`. Exits non-zero on a
difference.
"""
from __future__ import annotations

import argparse
import pathlib
import random
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools" / "parity"))
from sweep_common import bench_batch  # noqa: E402
FIXTURES = ROOT / "Tests" / "Fixtures" / "chat_templates"

PIECES = ["hello", "What is in the video?", "it's", '"quoted"', "{{ messages }}", "{% if x %}y{% endif %}", "{# c #}",
          "\n", "  ", "\t", "line one\nline two", "émoji 👋🏽", "中文", "\\n", "\u3000", "\xa0", "<|im_end|>", "[INST]",
          "</s>", "0", "None", "True", "1.5", "a" * 40, "\r\n", "'single'", "back\\slash", "%", "$x"]


def text(rng: random.Random) -> str:
    return "".join(rng.choice(PIECES) for _ in range(rng.randrange(0, 5)))


def content(rng: random.Random, role: str):
    if role == "user" and rng.random() < 0.35:
        parts = []
        for _ in range(rng.randrange(1, 4)):
            kind = rng.choice(["text", "text", "image", "video"])
            parts.append({"type": "text", "text": text(rng)} if kind == "text" else {"type": kind})
        return parts
    if rng.random() < 0.08:
        return ""
    return text(rng) or "ok"


TOOL = {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city.",
                                         "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                        "required": ["city"]}}}


def conversation(rng: random.Random) -> dict:
    messages = []
    if rng.random() < 0.5:
        messages.append({"role": "system", "content": text(rng) or "You are helpful."})
    alternate = rng.random() < 0.8
    role = "user"
    for _ in range(rng.randrange(1, 7)):
        m = {"role": role, "content": content(rng, role)}
        if role == "assistant" and rng.random() < 0.15:
            m["tool_calls"] = [{"type": "function", "function": {"name": "get_weather", "arguments": {"city": text(rng)}}}]
            if rng.random() < 0.5:
                m["content"] = None
        if role == "assistant" and rng.random() < 0.1:
            m["reasoning_content"] = text(rng)
        messages.append(m)
        if m.get("tool_calls") and rng.random() < 0.7:
            messages.append({"role": "tool", "content": text(rng) or "{}"})
        role = ("assistant" if role == "user" else "user") if alternate else rng.choice(["user", "assistant"])
    conv = {"messages": messages}
    if rng.random() < 0.2:
        conv["tools"] = [TOOL]
    if rng.random() < 0.1:
        conv["documents"] = [{"title": text(rng), "text": text(rng)}]
    return conv


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--bench", default=str(ROOT / ".build" / "release" / "vidlm-bench"))
    args = parser.parse_args()
    import make_chat_template_fixtures as F
    tok = F.oracle_tokenizer()
    context = F.CONTEXT
    templates = {p.stem: p.read_text(encoding="utf-8") for p in sorted((FIXTURES / "templates").glob("*.jinja"))}
    cases, expected, where = [], [], []
    for seed in range(args.first, args.first + args.count):
        rng = random.Random(seed)
        conv = conversation(rng)
        for name, source in templates.items():
            for agp in (False, True):
                try:
                    want = ("ok", tok.apply_chat_template(conv["messages"], chat_template=source, tools=conv.get("tools"),
                                                          documents=conv.get("documents"), add_generation_prompt=agp,
                                                          tokenize=False, date_string=context["date_string"]))
                except Exception as error:  # noqa: BLE001 - a template that raises is a case too
                    want = ("error", f"{type(error).__name__}: {error}")
                cases.append({"source": source, "messages": conv["messages"], "add_generation_prompt": agp,
                              "tools": conv.get("tools"), "documents": conv.get("documents"), "context": context})
                expected.append(want)
                where.append((seed, name, agp))
    got = bench_batch(args.bench, "template-render", cases)
    failures = 0
    for (seed, name, agp), (status, want), result in zip(where, expected, got):
        if status == "ok" and result.get("output") == want:
            continue
        if status == "error" and "error" in result:
            continue
        failures += 1
        if failures <= 15:
            print(f"seed {seed} {name} add_generation_prompt={agp}:\n  transformers: {status} {want!r}\n  vidlm: {result!r}")
    total, raised = len(cases), sum(status == "error" for status, _ in expected)
    print(f"{total} renders ({args.count} conversations × {len(templates)} templates × 2): {total - failures} equal "
          f"({raised} of them raise in transformers, and in vidlm), {failures} differ")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
