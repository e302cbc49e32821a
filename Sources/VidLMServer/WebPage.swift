/// The page served at `/`: one self-contained HTML file (no external assets, no build step).
/// Choose a clip or an image, see the frames the model will sample (POST /v1/frames), ask, watch
/// the answer stream (POST /v1/chat/completions with stream: true), keep asking. The media goes
/// inline as a data: URL; an API key typed in the page is sent as a Bearer header.
enum WebPage {
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>vidlm</title>
<style>
  :root { --fg: #1d2330; --muted: #667085; --line: #d0d5dd; --accent: #2155cd; --bg: #f7f8fa; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 15px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
  header { padding: 12px 20px; background: #fff; border-bottom: 1px solid var(--line); display: flex; gap: 16px; align-items: center; }
  header h1 { font-size: 18px; margin: 0; }
  header .model { color: var(--muted); }
  header label { margin-left: auto; color: var(--muted); font-size: 13px; }
  main { display: grid; grid-template-columns: minmax(280px, 1fr) minmax(320px, 1.3fr); gap: 20px; padding: 20px; max-width: 1200px; margin: auto; }
  section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 16px; }
  h2 { font-size: 15px; margin: 0 0 10px; }
  #preview { width: 100%; max-height: 240px; background: #000; border-radius: 6px; display: none; }
  #frames { display: grid; grid-template-columns: repeat(auto-fill, minmax(84px, 1fr)); gap: 8px; margin-top: 12px; }
  figure { margin: 0; text-align: center; font-size: 12px; color: var(--muted); }
  figure img { width: 100%; border-radius: 4px; border: 1px solid var(--line); image-rendering: pixelated; }
  .row { display: flex; gap: 8px; align-items: center; margin-top: 10px; flex-wrap: wrap; }
  input[type=number] { width: 70px; }
  input[type=text], input[type=password] { flex: 1; padding: 8px; border: 1px solid var(--line); border-radius: 6px; font: inherit; }
  button { padding: 8px 14px; border: 0; border-radius: 6px; background: var(--accent); color: #fff; font: inherit; cursor: pointer; }
  button.secondary { background: #eef2ff; color: var(--accent); }
  button:disabled { opacity: .5; cursor: default; }
  #log { min-height: 260px; max-height: 60vh; overflow-y: auto; display: flex; flex-direction: column; gap: 10px; }
  .turn { padding: 8px 12px; border-radius: 8px; max-width: 90%; white-space: pre-wrap; }
  .user { align-self: flex-end; background: #eef2ff; }
  .assistant { align-self: flex-start; background: #f2f4f7; }
  .error { align-self: stretch; background: #fef3f2; color: #b42318; }
  .status { color: var(--muted); font-size: 13px; min-height: 18px; margin-top: 6px; }
</style>
</head>
<body>
<header>
  <h1>vidlm</h1><span class="model" id="model">…</span>
  <label>API key <input type="password" id="key" size="14" autocomplete="off"></label>
</header>
<main>
  <section>
    <h2>Clip or image</h2>
    <input type="file" id="file" accept="video/*,image/*">
    <div class="row">
      <label>frames <input type="number" id="frames-count" min="1" max="64" placeholder="model"></label>
      <label>fps <input type="number" id="fps" min="0.1" step="0.1" placeholder="–"></label>
      <button class="secondary" id="sample" disabled>Show sampled frames</button>
    </div>
    <video id="preview" controls muted></video>
    <div class="status" id="frames-status"></div>
    <div id="frames"></div>
  </section>
  <section>
    <h2>Conversation</h2>
    <div id="log"></div>
    <form class="row" id="ask-form">
      <input type="text" id="question" placeholder="Ask about the clip…" autocomplete="off">
      <button type="submit" id="ask" disabled>Ask</button>
      <button type="button" class="secondary" id="reset">New conversation</button>
    </form>
    <div class="status" id="status"></div>
  </section>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
let media = null;          // {dataURL, kind}
let messages = [];         // the conversation sent with every question
let busy = false;

function headers() {
  const h = {"Content-Type": "application/json"};
  const key = $("key").value.trim();
  if (key) h["Authorization"] = "Bearer " + key;
  return h;
}

function sampling() {
  const s = {};
  const n = parseInt($("frames-count").value, 10);
  const fps = parseFloat($("fps").value);
  if (n > 0) s.frames = n;
  if (fps > 0) s.fps = fps;
  return s;
}

async function errorText(response) {
  try { const j = await response.json(); return j.error ? j.error.message : response.statusText; }
  catch (e) { return response.status + " " + response.statusText; }
}

function addTurn(role, text) {
  const div = document.createElement("div");
  div.className = "turn " + role;
  div.textContent = text;
  $("log").appendChild(div);
  $("log").scrollTop = $("log").scrollHeight;
  return div;
}

function updateButtons() {
  $("ask").disabled = busy || !media;
  $("sample").disabled = busy || !media;
}

async function loadModel() {
  try {
    const r = await fetch("/v1/models", {headers: headers()});
    if (!r.ok) { $("model").textContent = "(" + await errorText(r) + ")"; return; }
    const j = await r.json();
    $("model").textContent = j.data.map((m) => m.id).join(", ");
  } catch (e) { $("model").textContent = "(server unreachable)"; }
}

function resetConversation() {
  messages = [];
  $("log").textContent = "";
  $("status").textContent = "";
}

$("file").addEventListener("change", () => {
  const file = $("file").files[0];
  if (!file) return;
  const reader = new FileReader();
  reader.onload = () => {
    media = {dataURL: reader.result, kind: file.type.startsWith("image/") ? "image" : "video"};
    const preview = $("preview");
    if (media.kind === "video") { preview.src = media.dataURL; preview.style.display = "block"; }
    else { preview.removeAttribute("src"); preview.style.display = "none"; }
    resetConversation();
    updateButtons();
    showFrames();
  };
  reader.readAsDataURL(file);
});

async function showFrames() {
  if (!media) return;
  $("frames-status").textContent = "Sampling frames…";
  $("frames").textContent = "";
  try {
    const r = await fetch("/v1/frames", {method: "POST", headers: headers(),
      body: JSON.stringify({url: media.dataURL, frame_sampling: sampling(), max_side: 160})});
    if (!r.ok) { $("frames-status").textContent = await errorText(r); return; }
    const j = await r.json();
    for (const f of j.frames) {
      const fig = document.createElement("figure");
      const img = document.createElement("img");
      img.src = f.image;
      img.alt = "frame " + f.index;
      const cap = document.createElement("figcaption");
      cap.textContent = f.seconds.toFixed(2) + " s · #" + f.index;
      fig.append(img, cap);
      $("frames").appendChild(fig);
    }
    $("frames-status").textContent = j.frames.length + " frame" + (j.frames.length === 1 ? "" : "s") +
      (j.kind === "video" ? " of a " + j.duration_seconds.toFixed(2) + " s clip" : " (image)") + ", as the model samples them";
  } catch (e) { $("frames-status").textContent = "Could not sample frames: " + e; }
}
$("sample").addEventListener("click", showFrames);
$("reset").addEventListener("click", resetConversation);

$("ask-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const question = $("question").value.trim();
  if (!question || !media || busy) return;
  // The first turn carries the media; later turns are text only.
  const content = [{type: "text", text: question}];
  if (messages.length === 0) {
    content.unshift(media.kind === "image" ? {type: "image_url", image_url: {url: media.dataURL}}
                                           : {type: "video_url", video_url: {url: media.dataURL}});
  }
  messages.push({role: "user", content: content});
  addTurn("user", question);
  $("question").value = "";
  const answer = addTurn("assistant", "");
  busy = true; updateButtons();
  $("status").textContent = "Thinking…";
  const started = performance.now();
  let first = null, text = "";
  try {
    const r = await fetch("/v1/chat/completions", {method: "POST", headers: headers(),
      body: JSON.stringify({messages: messages, stream: true, frame_sampling: sampling()})});
    if (!r.ok) throw new Error(await errorText(r));
    const reader = r.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, {stream: true});
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const line = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
        if (!line.startsWith("data: ")) continue;
        const data = line.slice(6);
        if (data === "[DONE]") continue;
        const chunk = JSON.parse(data);
        if (chunk.error) throw new Error(chunk.error.message);
        const delta = chunk.choices && chunk.choices[0] && chunk.choices[0].delta;
        if (delta && delta.content) {
          if (first === null) first = performance.now();
          text += delta.content;
          answer.textContent = text;
          $("log").scrollTop = $("log").scrollHeight;
        }
      }
    }
    messages.push({role: "assistant", content: text});
    const secs = (performance.now() - started) / 1000;
    $("status").textContent = "Answered in " + secs.toFixed(2) + " s" +
      (first !== null ? " (first token after " + ((first - started) / 1000).toFixed(2) + " s)" : "");
  } catch (e) {
    messages.pop();
    answer.remove();
    addTurn("error", String(e.message || e));
    $("status").textContent = "";
  } finally {
    busy = false; updateButtons();
  }
});

$("key").addEventListener("change", loadModel);
loadModel();
</script>
</body>
</html>
"""#
}
