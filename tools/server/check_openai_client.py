"""The server through the official `openai` Python client and curl (tools/requirements.txt pins
openai): a streamed chat completion about a video sent as a data: URL, one about an image, a
non-streamed one, an error, and curl's view of /health, /v1/models, SSE and a 401. Prints one
PASS/FAIL line per check; exits non-zero on any failure (docs/server.md records a run).

    swift build --product vidlm-server
    tools/.venv/bin/python tools/server/check_openai_client.py
"""
import base64
import json
import subprocess
import sys

import openai

from serve_process import REPO, Server

CAPTION = "the blue square appears, then the triangle changes colour from red to yellow."


def data_url(path, mime):
    return f"data:{mime};base64," + base64.b64encode((REPO / path).read_bytes()).decode()


def main():
    failures = []

    def check(what, ok, detail=""):
        print(("PASS " if ok else "FAIL ") + what + (f": {detail}" if detail else ""))
        if not ok:
            failures.append(what)

    with Server(extra=("--api-key", "check-key")) as server:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="check-key")
        models = [m.id for m in client.models.list()]
        check("models.list", models == ["vidlm-shapes"], str(models))

        video = data_url("samples/world/sequence.mp4", "video/mp4")
        stream = client.chat.completions.create(
            model="vidlm-shapes", stream=True, stream_options={"include_usage": True},
            messages=[{"role": "user", "content": [
                {"type": "video_url", "video_url": {"url": video}},
                {"type": "text", "text": "what happens"}]}],
            extra_body={"frame_sampling": {"frames": 8}})
        pieces, finish, usage = [], None, None
        for chunk in stream:
            if chunk.usage:
                usage = chunk.usage
            for choice in chunk.choices:
                pieces.append(choice.delta.content or "")
                finish = choice.finish_reason or finish
        text = "".join(pieces)
        check("streamed video (data: URL) answer", text == CAPTION, repr(text))
        check("finish_reason stop, usage reported", finish == "stop" and usage is not None and usage.completion_tokens > 0,
              f"{finish}, {usage}")

        image = data_url("samples/world/still-two.png", "image/png")
        reply = client.chat.completions.create(
            model="vidlm-shapes", max_tokens=32,
            messages=[{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": image}},
                {"type": "text", "text": "what is there"}]}])
        check("image (data: URL) answer", bool(reply.choices[0].message.content), repr(reply.choices[0].message.content))

        path_reply = client.chat.completions.create(
            model="vidlm-shapes", messages=[{"role": "user", "content": [
                {"type": "video_url", "video_url": {"url": "world/sequence.mp4"}},
                {"type": "text", "text": "what happens"}]}])
        check("path under --media-root", path_reply.choices[0].message.content == CAPTION)

        try:
            client.chat.completions.create(model="vidlm-shapes", messages=[{"role": "user", "content": [
                {"type": "video_url", "video_url": {"url": "../Package.swift"}}]}])
            check("'..' refused", False, "no error")
        except openai.PermissionDeniedError as e:
            check("'..' refused with 403", e.status_code == 403, e.message)

        try:
            openai.OpenAI(base_url=server.url + "/v1", api_key="wrong").models.list()
            check("wrong key refused", False, "no error")
        except openai.AuthenticationError as e:
            check("wrong key refused with 401", e.status_code == 401)

        def curl(*args):
            return subprocess.run(["curl", "-s", *args], capture_output=True, text=True, check=True).stdout

        check("curl /health (no key)", json.loads(curl(server.url + "/health")) == {"status": "ok"})
        status = curl("-o", "/dev/null", "-w", "%{http_code}", server.url + "/v1/models")
        check("curl /v1/models without key: 401", status == "401", status)
        body = json.dumps({"stream": True, "messages": [{"role": "user", "content": [
            {"type": "video_url", "video_url": {"url": "world/sequence.mp4"}}, {"type": "text", "text": "what happens"}]}]})
        sse = curl("-N", "-H", "Authorization: Bearer check-key", "-H", "Content-Type: application/json", "-d", body,
                   server.url + "/v1/chat/completions")
        events = [block[6:] for block in sse.split("\n\n") if block.startswith("data: ")]
        streamed = "".join((json.loads(e)["choices"][0]["delta"].get("content") or "")
                           for e in events[:-1] if json.loads(e)["choices"])
        check("curl SSE stream ends with [DONE] and spells the caption", events[-1] == "[DONE]" and streamed == CAPTION)
    print(f"{len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
