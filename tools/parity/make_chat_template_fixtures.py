"""Builds the chat-template parity fixtures under Tests/Fixtures/chat_templates/ (no downloads).

    tools/.venv/bin/python tools/parity/make_chat_template_fixtures.py

The oracle is transformers (pinned in tools/requirements.txt) driving jinja2 3.1.6 exactly as
`apply_chat_template` does: `ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)` with
the loopcontrols and `{% generation %}` extensions, transformers' own `tojson` filter (ensure_ascii=False,
indent / separators / sort_keys), the globals `raise_exception`, `strftime_now`, `dict` and a
`namespace` that refuses underscore names. The templates in `templates/` and `error_templates/` are
hand-written for this project (shapes of common checkpoints' templates, not their text); this script
only reads them and writes:

  conversations.json   the named conversations (messages, optional tools / documents)
  expected.json        every template x conversation x add_generation_prompt: `output`, or `error` (+
                       `error_type`) with `output: null`; `context` holds the variables rendered besides
                       messages / tools / documents / add_generation_prompt. Templates containing
                       `{% generation %}` also get `generation_spans` ([start, end) offsets in code points).
  errors.json          error_templates/*.jinja: kind, jinja2's message and the template line it reports
  expected_ids.json    token ids from derived tokenizer folders (tokenizers/<name>/), one per place a
                       template can live
  tokenizers/          llama3 (template in tokenizer_config.json), qwen2 (chat_template.jinja, with a decoy
                       in tokenizer_config.json that must lose), llama2 (chat_template.json, read only by a
                       processor: the folder is a LLaVA-style processor folder)

Rendering goes through `tokenizer.apply_chat_template(..., chat_template=..., tokenize=False)`, so
transformers' pre-processing is part of the oracle: keys whose value is None are dropped from every
message, and a message with `reasoning_content` / `thinking` / `reasoning` gets both `thinking` (as its
first key) and `reasoning_content` (as its last key).

Template file precedence in transformers 5.23 (checked by experiment in `check_precedence`, the script
fails if it changes):
  * tokenizer (AutoTokenizer): chat_template.jinja wins over tokenizer_config.json's `chat_template`;
    chat_template.json is ignored. additional_chat_templates/<name>.jinja adds named templates.
  * tokenizer_config.json `chat_template` as a list of {"name", "template"}: the one named "default" is
    used, "tool_use" when tools are passed, a named one on request; no "default" -> ValueError.
  * processor (AutoProcessor on a real processor folder): chat_template.json wins over
    chat_template.jinja; tokenizer_config.json's template is not used by the processor at all.
"""
import json
import os
import re
import shutil
import sys
import tempfile
import traceback

import jinja2
import transformers
from transformers import AutoProcessor, AutoTokenizer, PreTrainedTokenizerFast
from transformers.utils.chat_template_utils import _compile_jinja_template, render_jinja_template

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "chat_templates")
TEMPLATES = os.path.join(OUT, "templates")
ERROR_TEMPLATES = os.path.join(OUT, "error_templates")
TOKENIZERS = os.path.join(ROOT, "Tests", "Fixtures", "tokenizers")

# Everything the templates see besides messages / tools / documents / add_generation_prompt.
# The special tokens are what transformers passes from tokenizer.special_tokens_map; date_string is a
# template kwarg fixed here so nothing depends on today's date.
CONTEXT = {
    "bos_token": "<s>",
    "eos_token": "</s>",
    "unk_token": "<unk>",
    "pad_token": "<pad>",
    "date_string": "26 Jul 2024",
}
SPECIAL = ("bos_token", "eos_token", "unk_token", "pad_token")
GENERATION_TAG = re.compile(r"\{%-?\s*generation\s*-?%\}")  # transformers' own check

# ---------------------------------------------------------------------------------------------
# Conversations (as callers pass them to apply_chat_template).

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather for a city.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "City name, e.g. Paris"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "search_clips",
            "description": "Search the video library for clips matching a query.\nReturns at most `limit` clip ids.",
            "parameters": {
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "What to look for"},
                    "limit": {"type": "integer", "description": "Maximum number of results"},
                    "tags": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["query"],
            },
            "return": {"type": "array", "items": {"type": "string"}},
        },
    },
]

DOCUMENTS = [
    {"title": "Clip 17 notes", "text": "A red triangle turns yellow after the blue square appears."},
    {"title": "Camera log", "text": "Recorded at 25 fps, 640×480, 12 seconds long."},
]

SHAPES = ["triangle", "square", "circle", "star"]
COLOURS = ["red", "blue", "green", "yellow", "purple"]
MOVES = ["left", "right", "up", "down", "in a circle", "nowhere"]


def long_conversation():
    messages = []
    for i in range(10):
        messages.append({"role": "user", "content": f"Question {i + 1}: what happens at second {i * 3} of the clip?"})
        messages.append({
            "role": "assistant",
            "content": f"At second {i * 3}, the {COLOURS[i % 5]} {SHAPES[i % 4]} moves {MOVES[i % 6]}.",
        })
    return messages


CONVERSATIONS = [
    {"name": "single-user", "messages": [{"role": "user", "content": "Hello! What can you do?"}]},
    {"name": "system-user", "messages": [
        {"role": "system", "content": "You are a concise assistant for video questions."},
        {"role": "user", "content": "Describe the clip in one sentence."},
    ]},
    {"name": "multi-turn", "messages": [
        {"role": "user", "content": "How many shapes are in the clip?"},
        {"role": "assistant", "content": "There are two shapes: a triangle and a square."},
        {"role": "user", "content": "Which one appears first?"},
    ]},
    {"name": "system-multi-turn", "messages": [
        {"role": "system", "content": "Answer in one short sentence."},
        {"role": "user", "content": "What colour is the square?"},
        {"role": "assistant", "content": "The square is blue."},
        {"role": "user", "content": "And the triangle?"},
        {"role": "assistant", "content": "It starts red, then turns yellow."},
        {"role": "user", "content": "When does it change?"},
    ]},
    {"name": "long-20-turns", "messages": long_conversation()},
    {"name": "image-text", "messages": [
        {"role": "user", "content": [
            {"type": "image"},
            {"type": "text", "text": "What is in this image?"},
        ]},
        {"role": "assistant", "content": [{"type": "text", "text": "A red triangle on a white background."}]},
        {"role": "user", "content": [
            {"type": "text", "text": "And in these two?"},
            {"type": "image", "url": "https://example.com/frames/0001.png"},
            {"type": "image"},
        ]},
    ]},
    {"name": "video", "messages": [
        {"role": "system", "content": "You describe videos."},
        {"role": "user", "content": [
            {"type": "video", "path": "clip.mp4"},
            {"type": "text", "text": "What happens in the video?"},
        ]},
    ]},
    {"name": "tool-calls", "tools": TOOLS, "messages": [
        {"role": "system", "content": "You are a weather assistant. Use the tools when they help."},
        {"role": "user", "content": "What's the weather in Paris right now?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call00001", "type": "function",
             "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}},
        ]},
        {"role": "tool", "tool_call_id": "call00001", "name": "get_weather",
         "content": "{\"temperature\": 21.5, \"condition\": \"sunny\"}"},
        {"role": "assistant", "content": "It is sunny in Paris, 21.5 °C."},
    ]},
    {"name": "parallel-tool-calls", "tools": TOOLS, "messages": [
        {"role": "user", "content": "Compare the weather in Tokyo and Oslo."},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "call00002", "type": "function",
             "function": {"name": "get_weather", "arguments": {"city": "Tokyo"}}},
            {"id": "call00003", "type": "function",
             "function": {"name": "get_weather", "arguments": "{\"city\": \"Oslo\", \"unit\": \"celsius\"}"}},
        ]},
        {"role": "tool", "tool_call_id": "call00002", "name": "get_weather", "content": "18 °C, cloudy"},
        {"role": "tool", "tool_call_id": "call00003", "name": "get_weather", "content": "4 °C, rain"},
        {"role": "assistant", "content": "Tokyo is 18 °C and cloudy; Oslo is 4 °C with rain."},
        {"role": "user", "content": "Now find clips of rain, at most 3."},
    ]},
    {"name": "documents", "documents": DOCUMENTS, "messages": [
        {"role": "user", "content": "What colour does the triangle turn, and how long is the clip?"},
    ]},
    {"name": "reasoning", "messages": [
        {"role": "user", "content": "Hi!"},
        {"role": "assistant", "content": "<think>\nThe user greets me.\n</think>\n\nHello! How can I help?"},
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "reasoning_content": "Simple arithmetic: 2 + 2 = 4.", "content": "2 + 2 = 4."},
    ]},
    {"name": "empty-content", "messages": [
        {"role": "system", "content": ""},
        {"role": "user", "content": ""},
        {"role": "assistant", "content": ""},
        {"role": "user", "content": "Are you still there?"},
    ]},
    {"name": "unicode-escapes", "messages": [
        {"role": "user", "content": (
            "Héllo wörld! 👋🏽 Ça va? 日本語\u3000テキスト、中文，한국어.\n"
            "Second line\twith a tab, \"double quotes\", 'single quotes' and a backslash \\ here.\r\n"
            "Decomposed e\u0301 vs é, no-break\u00a0space, {{ not_a_variable }} {% raw %} <|im_end|>"
        )},
        {"role": "assistant", "content": "Ünïcödé reply ✅ — «guillemets», ‘curly’ and “double” quotes.\n\n    Indented line\n"},
        {"role": "user", "content": "  Leading and trailing spaces, then a newline  \n"},
    ]},
    {"name": "assistant-last", "messages": [
        {"role": "user", "content": "Write a haiku about rain."},
        {"role": "assistant", "content": "Soft rain on the roof,"},
    ]},
    {"name": "non-alternating", "messages": [
        {"role": "user", "content": "First question."},
        {"role": "user", "content": "Second question, with no answer in between."},
        {"role": "assistant", "content": "One answer for both."},
    ]},
]

# (tokenizer folder, template file, where the template goes, conversations)
ID_CASES = [
    ("llama3", "05-llama3", "tokenizer_config.json"),
    ("qwen2", "01-chatml-qwen2", "chat_template.jinja"),
    ("llama2", "04-llama2", "chat_template.json"),
]
ID_CONVERSATIONS = ["system-user", "multi-turn", "unicode-escapes"]
DECOY_TEMPLATE = "DECOY: tokenizer_config.json's chat_template must lose to chat_template.jinja"

# error template -> kind (the messages and lines come from the oracle)
ERROR_KINDS = {
    "01-unexpected-tag.jinja": "syntax",
    "02-bad-expression.jinja": "syntax",
    "03-unclosed-if.jinja": "syntax",
    "04-unclosed-for.jinja": "syntax",
    "05-endfor-without-for.jinja": "syntax",
    "06-unknown-filter.jinja": "syntax",
    "07-unknown-test.jinja": "syntax",
    "08-undefined-attribute.jinja": "undefined",
    "09-undefined-arithmetic.jinja": "undefined",
    "10-raise-exception.jinja": "raise",
    "11-infinite-recursion.jinja": "recursion",
    "12-missing-method.jinja": "undefined",
    "13-sandbox-append.jinja": "unsupported",
    "14-type-error.jinja": "type",
    "15-unknown-filter-in-branch.jinja": "syntax",
}
ERROR_CONVERSATION = "system-multi-turn"


def dump(name, obj):
    path = os.path.join(OUT, name)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {os.path.relpath(path, ROOT)}")


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def load_templates():
    names = sorted(n for n in os.listdir(TEMPLATES) if n.endswith(".jinja"))
    return {n[: -len(".jinja")]: read(os.path.join(TEMPLATES, n)) for n in names}


def oracle_tokenizer():
    """A tokenizer whose special_tokens_map is exactly CONTEXT's special tokens."""
    tok = PreTrainedTokenizerFast(
        tokenizer_file=os.path.join(TOKENIZERS, "llama2", "tokenizer.json"),
        **{k: CONTEXT[k] for k in SPECIAL},
    )
    assert tok.special_tokens_map == {k: CONTEXT[k] for k in SPECIAL}, tok.special_tokens_map
    return tok


def template_line(exc):
    """The template line jinja2 reports: the syntax error's lineno, or the innermost template frame of
    the (rewritten) traceback for errors raised while rendering."""
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return exc.lineno
    line = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename == "<template>":
            line = lineno
    return line


def render_all(tok, templates):
    cases = []
    for tname, template in templates.items():
        for conv in CONVERSATIONS:
            for agp in (False, True):
                case = {"template": tname, "conversation": conv["name"], "add_generation_prompt": agp}
                try:
                    case["output"] = tok.apply_chat_template(
                        conv["messages"], chat_template=template, tools=conv.get("tools"),
                        documents=conv.get("documents"), add_generation_prompt=agp, tokenize=False,
                        date_string=CONTEXT["date_string"],
                    )
                except Exception as e:  # noqa: BLE001 - every failure is a fixture
                    case["output"] = None
                    case["error"] = str(e)
                    case["error_type"] = type(e).__name__
                if GENERATION_TAG.search(template) and case["output"] is not None:
                    messages = [{k: v for k, v in m.items() if v is not None} for m in conv["messages"]]
                    rendered, spans = render_jinja_template(
                        conversations=[messages], tools=conv.get("tools"), documents=conv.get("documents"),
                        chat_template=template, return_assistant_tokens_mask=True, add_generation_prompt=agp,
                        **CONTEXT,
                    )
                    assert rendered[0] == case["output"], (tname, conv["name"])
                    case["generation_spans"] = [list(s) for s in spans[0]]
                cases.append(case)
    return cases


def render_errors(tok):
    conv = next(c for c in CONVERSATIONS if c["name"] == ERROR_CONVERSATION)
    out = []
    for name in sorted(n for n in os.listdir(ERROR_TEMPLATES) if n.endswith(".jinja")):
        template = read(os.path.join(ERROR_TEMPLATES, name))
        try:
            _compile_jinja_template(template)
            when = "render"
        except jinja2.TemplateError:
            when = "compile"
        try:
            tok.apply_chat_template(conv["messages"], chat_template=template, add_generation_prompt=True,
                                    tokenize=False, date_string=CONTEXT["date_string"])
        except (jinja2.TemplateError, TypeError, RecursionError) as e:
            exc = e
        else:
            sys.exit(f"{name} rendered without an error")
        kind = ERROR_KINDS[name]
        out.append({
            "template": name, "line": template_line(exc), "kind": kind, "when": when,
            "error_type": type(exc).__name__, "message": str(exc),
        })
        assert out[-1]["line"] is not None and out[-1]["line"] >= 2, out[-1]
    return {"conversation": ERROR_CONVERSATION, "add_generation_prompt": True, "cases": out}


# ---------------------------------------------------------------------------------------------
# Template file locations.

def copy_tokenizer(src, dst, config_extra=None):
    os.makedirs(dst, exist_ok=True)
    shutil.copy(os.path.join(TOKENIZERS, src, "tokenizer.json"), os.path.join(dst, "tokenizer.json"))
    with open(os.path.join(TOKENIZERS, src, "tokenizer_config.json"), encoding="utf-8") as f:
        config = json.load(f)
    config.update(config_extra or {})
    with open(os.path.join(dst, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, ensure_ascii=False, indent=2)
        f.write("\n")


def write_text(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=2)
        f.write("\n")


def write_processor_files(folder):
    # A minimal LLaVA-style processor folder, so that AutoProcessor (the only reader of chat_template.json)
    # loads it. No image is ever processed here.
    write_json(os.path.join(folder, "preprocessor_config.json"), {
        "image_processor_type": "CLIPImageProcessor", "processor_class": "LlavaProcessor",
        "size": {"shortest_edge": 32}, "crop_size": {"height": 32, "width": 32},
    })
    write_json(os.path.join(folder, "processor_config.json"), {
        "processor_class": "LlavaProcessor", "patch_size": 16, "image_token": "<image>",
    })


def check_precedence():
    """Asserts the template-location rules stated in the docstring, on throwaway folders."""
    msgs = [{"role": "user", "content": "hi"}]
    tmp = tempfile.mkdtemp()
    try:
        def folder(name, config=None, jinja=None, legacy_json=None, processor=False):
            d = os.path.join(tmp, name)
            copy_tokenizer("llama2", d, {"chat_template": config} if config is not None else None)
            if jinja is not None:
                write_text(os.path.join(d, "chat_template.jinja"), jinja)
            if legacy_json is not None:
                write_json(os.path.join(d, "chat_template.json"), {"chat_template": legacy_json})
            if processor:
                write_processor_files(d)
            return d

        def tok_render(d, **kw):
            try:
                return AutoTokenizer.from_pretrained(d).apply_chat_template(msgs, tokenize=False, **kw)
            except ValueError as e:
                return f"ValueError: {e}"[:40]

        def proc_render(d):
            try:
                return AutoProcessor.from_pretrained(d).apply_chat_template(msgs, tokenize=False)
            except ValueError as e:
                return f"ValueError: {e}"[:40]

        listed = [{"name": "rag", "template": "RAG"}, {"name": "default", "template": "DEFAULT"},
                  {"name": "tool_use", "template": "TOOL_USE"}]
        tool = [{"type": "function", "function": {"name": "f"}}]
        found = {
            "tokenizer: config only": tok_render(folder("a", config="CONFIG")),
            "tokenizer: config + jinja": tok_render(folder("b", config="CONFIG", jinja="JINJA")),
            "tokenizer: config + json": tok_render(folder("c", config="CONFIG", legacy_json="JSON")),
            "tokenizer: json only": tok_render(folder("d", legacy_json="JSON")),
            "tokenizer: list": tok_render(folder("e", config=listed)),
            "tokenizer: list + tools": tok_render(folder("f", config=listed), tools=tool),
            "tokenizer: list, by name": tok_render(folder("g", config=listed), chat_template="rag"),
            "tokenizer: list without default": tok_render(folder("h", config=listed[:1])),
            "processor: json + jinja + config": proc_render(
                folder("i", config="CONFIG", jinja="JINJA", legacy_json="JSON", processor=True)),
            "processor: jinja + config": proc_render(folder("j", config="CONFIG", jinja="JINJA", processor=True)),
            "processor: config only": proc_render(folder("k", config="CONFIG", processor=True)),
        }
    finally:
        shutil.rmtree(tmp)
    expected = {
        "tokenizer: config only": "CONFIG",
        "tokenizer: config + jinja": "JINJA",
        "tokenizer: config + json": "CONFIG",
        "tokenizer: json only": "ValueError: Cannot use chat template fun",
        "tokenizer: list": "DEFAULT",
        "tokenizer: list + tools": "TOOL_USE",
        "tokenizer: list, by name": "RAG",
        "tokenizer: list without default": "ValueError: This model has multiple chat",
        "processor: json + jinja + config": "JSON",
        "processor: jinja + config": "JINJA",
        "processor: config only": "ValueError: Cannot use apply_chat_templa",
    }
    assert found == expected, json.dumps(found, indent=1)
    return found


def build_id_fixtures(templates):
    root = os.path.join(OUT, "tokenizers")
    shutil.rmtree(root, ignore_errors=True)
    convs = {c["name"]: c for c in CONVERSATIONS}
    cases = []
    folders = {}
    for name, tname, where in ID_CASES:
        d = os.path.join(root, name)
        template = templates[tname]
        if where == "tokenizer_config.json":
            copy_tokenizer(name, d, {"chat_template": template})
        elif where == "chat_template.jinja":
            copy_tokenizer(name, d, {"chat_template": DECOY_TEMPLATE})
            write_text(os.path.join(d, "chat_template.jinja"), template)
        else:
            copy_tokenizer(name, d)
            write_json(os.path.join(d, "chat_template.json"), {"chat_template": template})
            write_processor_files(d)
        tok = AutoTokenizer.from_pretrained(d)
        processor = None
        if where == "chat_template.json":
            assert tok.chat_template is None  # the tokenizer never reads chat_template.json
            processor = AutoProcessor.from_pretrained(d)
            assert processor.chat_template == template
        else:
            assert tok.chat_template == template, (name, where)
        rel = os.path.relpath(d, ROOT)
        folders[rel] = {"template": tname, "template_file": where, "loaded_by": "AutoProcessor" if processor else "AutoTokenizer",
                        "special_tokens": tok.special_tokens_map}
        for cname in ID_CONVERSATIONS:
            msgs = convs[cname]["messages"]
            for agp in (False, True):
                if processor is None:
                    text = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=agp)
                    ids = tok.apply_chat_template(msgs, tokenize=True, return_dict=True,
                                                  add_generation_prompt=agp)["input_ids"]
                else:
                    text = processor.apply_chat_template(msgs, tokenize=False, add_generation_prompt=agp)
                    ids = processor.apply_chat_template(msgs, tokenize=True, return_dict=True,
                                                        add_generation_prompt=agp)["input_ids"]
                    if ids and isinstance(ids[0], list):  # the processor returns a batch of one
                        (ids,) = ids
                    # the tokenizer, given the same template, agrees
                    assert ids == tok.apply_chat_template(msgs, chat_template=template, tokenize=True,
                                                          return_dict=True, add_generation_prompt=agp)["input_ids"]
                assert ids == tok.encode(text, add_special_tokens=False)
                cases.append({"tokenizer": rel, "conversation": cname, "add_generation_prompt": agp,
                              "text": text, "ids": ids})
    return {"folders": folders, "cases": cases}


def main():
    print(f"transformers {transformers.__version__}, jinja2 {jinja2.__version__}")
    templates = load_templates()
    tok = oracle_tokenizer()

    dump("conversations.json", CONVERSATIONS)

    cases = render_all(tok, templates)
    errors = [c for c in cases if c["output"] is None]
    dump("expected.json", {
        "oracle": f"transformers {transformers.__version__} apply_chat_template(tokenize=False), jinja2 {jinja2.__version__}",
        "context": CONTEXT,
        "templates": list(templates),
        "cases": cases,
    })
    print(f"{len(templates)} templates x {len(CONVERSATIONS)} conversations x 2 = {len(cases)} cases, "
          f"{len(errors)} errors")

    dump("errors.json", render_errors(tok))

    precedence = check_precedence()
    ids = build_id_fixtures(templates)
    ids["precedence"] = precedence
    dump("expected_ids.json", ids)


if __name__ == "__main__":
    main()
