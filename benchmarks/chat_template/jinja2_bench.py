"""Python baseline for chat-template rendering speed: jinja2 configured exactly as transformers'
apply_chat_template configures it (transformers' own compile function, so the same sandboxed
environment, extensions, filters and globals), compiled once, then rendered N times.

    tools/.venv/bin/python benchmarks/chat_template/jinja2_bench.py [--renders N] [--template NAME]

The template defaults to the most complex one of the fixture corpus: the largest file in
Tests/Fixtures/chat_templates/templates/ that both defines macros and renders tools
(22-macros-tools). It is rendered over the `long-20-turns` conversation with add_generation_prompt
and the fixture render context (expected.json's `context`). Prints one JSON line:
{"tool": "jinja2", "template": ..., "median_us": ..., "renders": N}.
"""
import argparse
import json
import os
import re
import statistics
import time

from transformers.utils.chat_template_utils import _compile_jinja_template

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(ROOT, "Tests", "Fixtures", "chat_templates")
TEMPLATES = os.path.join(FIXTURES, "templates")
MACRO = re.compile(r"\{%-?\s*macro\s")


def most_complex_template():
    best = None
    for name in sorted(os.listdir(TEMPLATES)):
        with open(os.path.join(TEMPLATES, name), encoding="utf-8") as f:
            text = f.read()
        if MACRO.search(text) and "tools" in text:
            if best is None or len(text) > best[1]:
                best = (name[: -len(".jinja")], len(text))
    return best[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--renders", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--template", default=None, help="template name (default: the most complex one)")
    ap.add_argument("--conversation", default="long-20-turns")
    args = ap.parse_args()

    name = args.template or most_complex_template()
    with open(os.path.join(TEMPLATES, name + ".jinja"), encoding="utf-8") as f:
        source = f.read()
    with open(os.path.join(FIXTURES, "conversations.json"), encoding="utf-8") as f:
        conv = next(c for c in json.load(f) if c["name"] == args.conversation)
    with open(os.path.join(FIXTURES, "expected.json"), encoding="utf-8") as f:
        context = json.load(f)["context"]
    # apply_chat_template drops None-valued keys before rendering
    messages = [{k: v for k, v in m.items() if v is not None} for m in conv["messages"]]

    template = _compile_jinja_template(source)  # compiled once

    def render():
        return template.render(messages=messages, tools=conv.get("tools"), documents=conv.get("documents"),
                               add_generation_prompt=True, **context)

    for _ in range(args.warmup):
        render()
    times = []
    for _ in range(args.renders):
        t0 = time.perf_counter_ns()
        render()
        times.append(time.perf_counter_ns() - t0)
    print(json.dumps({"tool": "jinja2", "template": name, "conversation": args.conversation,
                      "median_us": round(statistics.median(times) / 1000, 2), "renders": args.renders}))


if __name__ == "__main__":
    main()
