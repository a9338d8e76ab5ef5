// fakescope live page: camera or shared screen → JPEG frames over /v1/live → boxes, verdicts, heatmap.
// At most 5 frames a second, and only once the previous one was answered (the browser never queues).
// Text from the server goes in with textContent, never innerHTML.
"use strict";

const COLOURS = {fake: "#c0392b", real: "#1e8449", uncertain: "#d68910", inconclusive: "#7f8c8d"};
const MIN_GAP_MS = 200;
const $ = (id) => document.getElementById(id);
const video = $("video"), overlay = $("overlay"), grab = document.createElement("canvas");
let ws = null, stream = null, ready = false, waiting = false, lastSent = 0, timer = null;
// read back by tests: when the first frame went out, when the first face box with a verdict was drawn
window.liveStats = {firstSentAt: null, firstVerdictMs: null, updates: 0, errors: []};

function status(text) { $("status").textContent = text; }

async function start(kind) {
  stop();
  try {
    stream = kind === "screen"
      ? await navigator.mediaDevices.getDisplayMedia({video: true, audio: false})
      : await navigator.mediaDevices.getUserMedia({video: {width: {ideal: 1280}, height: {ideal: 720}}, audio: false});
  } catch (e) {
    status(`Could not open the ${kind === "screen" ? "screen" : "camera"}: ${e.message || e}`);
    return;
  }
  stream.getVideoTracks()[0].addEventListener("ended", () => stop());
  video.srcObject = stream;
  await video.play().catch(() => {});
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  ws = new WebSocket(`${scheme}://${location.host}/v1/live`);
  ws.onopen = () => {
    const token = $("token").value.trim();
    ws.send(JSON.stringify(token ? {type: "start", window: 10, token} : {type: "start", window: 10}));
    status("Loading the model…");
  };
  ws.onmessage = (ev) => handle(JSON.parse(ev.data));
  ws.onclose = (ev) => { ready = false; if (ws && ev.target === ws) status(`Stopped${ev.reason ? ": " + ev.reason : ""}.`); };
  $("stop").disabled = false;
  timer = setInterval(tick, 50);
}

function stop() {
  if (timer) clearInterval(timer);
  timer = null;
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({type: "stop"}));
  if (stream) stream.getTracks().forEach((t) => t.stop());
  stream = null; ready = false; waiting = false;
  $("stop").disabled = true; $("explain").disabled = true;
}

function tick() {
  if (!ready || waiting || !ws || ws.readyState !== WebSocket.OPEN || video.readyState < 2) return;
  if (performance.now() - lastSent < MIN_GAP_MS) return;
  grab.width = video.videoWidth; grab.height = video.videoHeight;
  grab.getContext("2d").drawImage(video, 0, 0);
  waiting = true;
  grab.toBlob((blob) => {
    if (!blob || !ws || ws.readyState !== WebSocket.OPEN) { waiting = false; return; }
    lastSent = performance.now();
    if (window.liveStats.firstSentAt === null) window.liveStats.firstSentAt = lastSent;
    ws.send(blob);
  }, "image/jpeg", 0.85);
}

function handle(m) {
  if (m.type === "ready") { ready = true; status(`Analysing with ${m.model} (verdicts over the last ${m.window} s).`); }
  else if (m.type === "update") { waiting = false; update(m); }
  else if (m.type === "heatmap") heatmap(m);
  else if (m.type === "final") { $("verdict").textContent = `Session: ${m.verdict.label} — ${m.verdict.headline}`; }
  else if (m.type === "error") {
    window.liveStats.errors.push(m.message);
    status(m.message);
    if (/^frame \d+/.test(m.message)) waiting = false;  // that frame is answered: send the next
  }
}

function badge(label) {
  const b = document.createElement("span");
  b.className = `badge ${label}`; b.textContent = label;
  return b;
}

function update(m) {
  const stats = window.liveStats, byId = new Map(m.identities.map((t) => [t.id, t]));
  stats.updates += 1;
  $("latency").textContent = String(Math.round(m.latency_ms));
  $("dropped").textContent = String(m.dropped);
  $("frames").textContent = String(stats.updates);
  $("explain").disabled = m.frame.faces.length === 0;
  const v = $("verdict");
  v.replaceChildren(badge(m.verdict.label), document.createTextNode(" " + m.verdict.headline));
  draw(m.frame, byId);
  const rows = m.identities.map((t) => {
    const tr = document.createElement("tr");
    const cells = [`#${t.id}`, null, t.p_fake === null ? "–" : t.p_fake.toFixed(2), String(t.n_faces), t.reason];
    cells.forEach((text, i) => {
      const td = document.createElement("td");
      if (i === 1) td.append(badge(t.label)); else td.textContent = text;
      tr.append(td);
    });
    return tr;
  });
  document.querySelector("#identities tbody").replaceChildren(...rows);
  if (stats.firstVerdictMs === null && m.frame.faces.some((f) => byId.has(f.track_id))) {
    stats.firstVerdictMs = performance.now() - stats.firstSentAt;
  }
}

function draw(frame, byId) {
  overlay.width = frame.width; overlay.height = frame.height;
  const g = overlay.getContext("2d"), px = Math.max(2, frame.width / 320);
  g.clearRect(0, 0, frame.width, frame.height);
  g.font = `bold ${Math.round(px * 8)}px system-ui, sans-serif`;
  g.lineWidth = px;
  for (const f of frame.faces) {
    const t = byId.get(f.track_id), label = t ? t.label : "uncertain";
    const p = t && t.p_fake !== null ? t.p_fake : f.p_fake;
    const [x1, y1, x2, y2] = f.box, text = `#${f.track_id} ${label} ${p.toFixed(2)}`;
    g.strokeStyle = g.fillStyle = COLOURS[label] || COLOURS.inconclusive;
    g.strokeRect(x1, y1, x2 - x1, y2 - y1);
    const h = px * 11, w = g.measureText(text).width + px * 4, y = Math.max(0, y1 - h);
    g.fillRect(x1, y, w, h);
    g.fillStyle = "#fff";
    g.fillText(text, x1 + px * 2, y + h - px * 3);
  }
}

function heatmap(m) {
  $("heatmap").src = `data:image/png;base64,${m.png_base64}`;
  const faith = m.faithfulness === null ? "" : ` · faithfulness ${m.faithfulness.toFixed(2)}`;
  const flags = m.flags.length ? ` · ⚑ ${m.flags.join(", ")} (not evidence)` : "";
  $("heatmap-caption").textContent = `#${m.track_id} · P(fake) ${m.p_fake.toFixed(2)} · ${m.method}${faith}${flags}`;
  $("heatmap-box").hidden = false;
}

$("camera").addEventListener("click", () => start("camera"));
$("screen").addEventListener("click", () => start("screen"));
$("stop").addEventListener("click", () => stop());
$("explain").addEventListener("click", () => {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({type: "explain"}));
});
