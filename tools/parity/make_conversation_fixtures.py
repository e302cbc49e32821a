"""Builds Tests/Fixtures/conversation/*.json: multi-turn prompt ids from transformers' processors (no downloads).

    tools/.venv/bin/python tools/parity/make_conversation_fixtures.py

For each tiny vision-language checkpoint under Tests/Fixtures/parity/ (each family's template), one
conversation with a system message, a question about a still, the assistant's answer and a follow-up
question. Every message's content is a list of parts, as transformers serve hands messages to a
vision-language processor (it turns a plain-text OpenAI `content` into one text part); the templates of
SmolVLM and LLaVA render a plain string as nothing, so a client that keeps answers as strings must have
them turned into parts. Each file also has the same conversation with an empty answer (a text part holding
""), which SmolVLM's template needs as a part to read `content[0]`. The Swift test (ConversationParityTests) gives vidlm the text messages as plain
strings and expects these ids.
"""
import json
import pathlib

from PIL import Image
from transformers import AutoProcessor

ROOT = pathlib.Path(__file__).resolve().parents[2]
PARITY = ROOT / "Tests" / "Fixtures" / "parity"
OUT = ROOT / "Tests" / "Fixtures" / "conversation"
IMAGE = PARITY / "smolvlm_tiny" / "cases" / "image_nosplit" / "input.png"
CHECKPOINTS = ["smolvlm_tiny", "llava_tiny", "llava_next_tiny", "llava_next_video_tiny", "llava_onevision_tiny", "video_llava_tiny",
               "qwen2_vl_tiny", "qwen2_5_vl_tiny", "qwen3_vl_tiny"]

SYSTEM = "Answer in one short sentence."
QUESTION = "What is in this picture?"
ANSWER = "A red square on a blue field."
FOLLOW_UP = "And what colour is the field?"


def text(t: str) -> list:
    return [{"type": "text", "text": t}]


def conversation_ids(processor, image, answer: str) -> tuple[str, list]:
    messages = [
        {"role": "system", "content": text(SYSTEM)},
        {"role": "user", "content": [{"type": "image"}, *text(QUESTION)]},
        {"role": "assistant", "content": text(answer)},
        {"role": "user", "content": text(FOLLOW_UP)},
    ]
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    ids = processor.apply_chat_template(
        [dict(m, content=[{"type": "image", "image": image} if p["type"] == "image" else p for p in m["content"]])
         for m in messages], add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"]
    ids = ids.tolist() if hasattr(ids, "tolist") else ids
    ids = ids[0] if isinstance(ids[0], list) else ids
    # (Some templates, like the LLaVA-NeXT fixture's [INST] one, leave system messages out.)
    assert answer in prompt and FOLLOW_UP in prompt, f"a turn is missing from\n{prompt}"
    return prompt, ids


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    image = Image.open(IMAGE).convert("RGB")
    for name in CHECKPOINTS:
        processor = AutoProcessor.from_pretrained(PARITY / name)
        prompt, ids = conversation_ids(processor, image, ANSWER)
        # An answer that was only the stop token: the chat keeps it as an empty text part.
        empty_prompt, empty_ids = conversation_ids(processor, image, "")
        fixture = {"checkpoint": name, "image": str(IMAGE.relative_to(ROOT / "Tests" / "Fixtures")),
                   "system": SYSTEM, "question": QUESTION, "answer": ANSWER, "follow_up": FOLLOW_UP,
                   "prompt": prompt, "input_ids": ids, "empty_answer_prompt": empty_prompt, "empty_answer_input_ids": empty_ids}
        (OUT / f"{name}.json").write_text(json.dumps(fixture, indent=1, ensure_ascii=False) + "\n")
        print(f"{name}: {len(ids)} ids, {len(empty_ids)} with an empty answer")


if __name__ == "__main__":
    main()
