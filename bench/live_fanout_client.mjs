// The load generator of bench/live_fanout.py (its --client node, the default): the room's
// viewers, slow viewers and talkers in one Node.js process, so the client costs the shared
// CPUs a fraction of what a Python client decoding the same frames does.
//
//   node --experimental-websocket bench/live_fanout_client.mjs   (Node >= 20, no npm package)
//
// Driven by bench/live_fanout.py over stdin/stdout, one line each:
//   stdin  1st line: the config, JSON {url, viewers, slow, cookies: [talker cookie|null...],
//                    talker_base, talker_total, seconds}
//   stdout {"event":"open", connected, errors}      every viewer and slow viewer is open
//   stdin  "go"                                     (the driver has sampled the server's memory)
//   stdout {"event":"talkers_done", sent}           every talker sent its last message
//   stdin  "snapshot"                               the end of the measured window
//   stdout {"event":"snapshot", received, hist, ...} counts, latencies, per message its first and
//                                                   last arrival, this process's CPU and
//                                                   event-loop delay (its own lag) up to now
//   stdin  "stop"                                   close everything and exit
//
// The same work as the Python client: a reading viewer parses every frame (JSON) and, for a
// chat message, takes its send time from the text ("<epoch seconds>|hello from n") and
// records now - then; a slow viewer completes the handshake and never reads again (its
// kernel buffer fills, then the server's); a talker sends a chat message every `talk_every_ms` (the
// room allows one per 2 s) for `seconds`, staggered over the first period, and reads what the
// room sends it (not counted; a refusal, e.g. rate_limited, is counted as an error). Send and receive times are wall-clock milliseconds
// (performance.timeOrigin + performance.now(), microsecond resolution), so several client
// processes on the machine agree.
//
// Latencies go in a histogram: 0.1 ms buckets up to 1 s, 1 ms buckets up to 120 s, one
// overflow bucket; the snapshot carries its non-empty buckets ({index: count}).

import net from "node:net";
import readline from "node:readline";
import crypto from "node:crypto";
import { monitorEventLoopDelay } from "node:perf_hooks";

if (typeof WebSocket !== "function") {
  process.stderr.write("no global WebSocket: run with node --experimental-websocket (Node >= 20)\n");
  process.exit(3);
}

const FINE = 10_000; // 0.1 ms buckets below 1 s
const COARSE = 119_000; // 1 ms buckets from 1 s to 120 s
const hist = new Uint32Array(FINE + COARSE + 1);
const nowMs = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

let received = 0;
let frames = 0; // frames with at least one chat message (a busy room batches several in one)
let stopping = false;
const errors = {};
const countError = (key) => { errors[key] = (errors[key] || 0) + 1; };
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

function record(ms) {
  if (ms < 0) ms = 0;
  const i = ms < 1000 ? Math.floor(ms * 10) : Math.min(FINE + Math.floor(ms - 1000), FINE + COARSE);
  hist[i]++;
}

// Per chat message (by its text): [sent, first arrival, last arrival, arrivals], so the
// driver can tell the wait before the room's fan-out starts (first viewer) from the fan-out
// itself (first to last viewer).
const perMessage = new Map();

function onViewerFrame(event) {
  const data = JSON.parse(event.data);
  const before = received;
  if (Array.isArray(data)) data.forEach(onViewerMessage); // a busy room batches messages in one frame
  else onViewerMessage(data);
  if (received > before) frames++;
}

function onViewerMessage(message) {
  if (message.type !== "chat") return;
  const sent = parseFloat(message.text) * 1000; // "<epoch seconds>|..." : parseFloat stops at the "|"
  const now = nowMs();
  record(now - sent);
  received++;
  const seen = perMessage.get(message.text);
  if (seen === undefined) perMessage.set(message.text, [sent, now, now, 1]);
  else { seen[2] = now; seen[3]++; }
}

function openSocket(url, headers, onmessage, label) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, headers ? { headers } : undefined);
    let opened = false;
    ws.onopen = () => { opened = true; resolve(ws); };
    ws.onmessage = onmessage;
    ws.onerror = () => { if (!opened) { countError(`${label}:connect`); resolve(null); } };
    ws.onclose = (e) => {
      if (!opened) { resolve(null); return; }
      if (!stopping) countError(`${label}:closed:${e.code}`);
    };
  });
}

// A viewer that never reads: the handshake over a raw socket, then reading paused for good.
function openSlow(url) {
  const u = new URL(url);
  return new Promise((resolve) => {
    const sock = net.connect(Number(u.port), u.hostname);
    let head = "";
    let done = false;
    const finish = (ok, key) => {
      if (done) return;
      done = true;
      if (ok) { sock.pause(); resolve(sock); } else { countError(key); sock.destroy(); resolve(null); }
    };
    sock.setTimeout(60_000, () => finish(false, "slow:timeout"));
    sock.on("connect", () => {
      sock.write(
        `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    sock.on("data", (chunk) => {
      if (done) return;
      head += chunk.toString("latin1");
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return;
      sock.setTimeout(0);
      finish(/^HTTP\/1\.1 101/.test(head), `slow:status:${head.slice(9, 12)}`);
    });
    sock.on("error", (e) => {
      if (!done) finish(false, `slow:${e.code || "error"}`);
      else if (!stopping) countError(`slow:${e.code || "error"}`);
    });
  });
}

async function talker(cfg, cookie, n) {
  const onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (!Array.isArray(message) && message.type === "error") countError(`talker:refused:${message.code}`); // e.g. rate_limited
  };
  const ws = await openSocket(cfg.url, cookie ? { Cookie: `zc_session=${cookie}` } : null, onmessage, "talker");
  if (!ws) return 0;
  await sleep((n * cfg.talk_every_ms) / Math.max(1, cfg.talker_total)); // spread over one period
  const end = performance.now() + cfg.seconds * 1000;
  let sent = 0;
  while (performance.now() < end && ws.readyState === WebSocket.OPEN) {
    ws.send(JSON.stringify({ type: "chat", text: `${(nowMs() / 1000).toFixed(6)}|hello from ${n}` }));
    sent++;
    await sleep(cfg.talk_every_ms);
  }
  talkerSockets.push(ws);
  return sent;
}

const talkerSockets = [];
const lines = readline.createInterface({ input: process.stdin });
const nextLine = (() => {
  const queued = [];
  const waiting = [];
  lines.on("line", (line) => (waiting.length ? waiting.shift()(line.trim()) : queued.push(line.trim())));
  lines.on("close", () => { while (waiting.length) waiting.shift()("stop"); queued.push("stop"); });
  return () => (queued.length ? Promise.resolve(queued.shift()) : new Promise((resolve) => waiting.push(resolve)));
})();

async function main() {
  const cfg = JSON.parse(await nextLine());
  const viewers = [];
  const slow = [];
  // open in batches, so a thousand handshakes do not all queue at once
  for (let i = 0; i < cfg.viewers; i += 50) {
    const batch = [];
    for (let j = i; j < Math.min(cfg.viewers, i + 50); j++) batch.push(openSocket(cfg.url, null, onViewerFrame, "viewer"));
    viewers.push(...(await Promise.all(batch)));
  }
  for (let i = 0; i < cfg.slow; i++) slow.push(await openSlow(cfg.url));
  const connected = viewers.filter(Boolean).length + slow.filter(Boolean).length;
  emit({ event: "open", connected, errors });

  while ((await nextLine()) !== "go") { /* wait */ }
  const loopDelay = monitorEventLoopDelay({ resolution: 10 }); // is this client keeping up?
  loopDelay.enable();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const before = received;
  const framesBefore = frames;
  const talkers = cfg.cookies.map((cookie, k) => talker(cfg, cookie, cfg.talker_base + k));
  Promise.all(talkers).then((counts) => emit({ event: "talkers_done", sent: counts.reduce((a, b) => a + b, 0) }));

  let line;
  while ((line = await nextLine()) !== "snapshot" && line !== "stop") { /* wait */ }
  const cpu = process.cpuUsage(cpu0);
  loopDelay.disable();
  const sparse = {};
  for (let i = 0; i < hist.length; i++) if (hist[i]) sparse[i] = hist[i];
  emit({
    event: "snapshot", received: received - before, frames: frames - framesBefore, wall_s: (performance.now() - t0) / 1000,
    cpu_s: (cpu.user + cpu.system) / 1e6, max_rss_kb: process.resourceUsage().maxRSS,
    hist: sparse, fine: FINE, errors, messages: Object.fromEntries(perMessage),
    loop_delay_ms: { p50: loopDelay.percentile(50) / 1e6, p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 },
  });
  while (line !== "stop") line = await nextLine();
  stopping = true;
  for (const ws of [...viewers, ...talkerSockets]) if (ws) ws.close();
  for (const s of slow) if (s) s.destroy();
  await sleep(200);
  process.exit(0);
}

main().catch((e) => { process.stderr.write(String(e && e.stack || e) + "\n"); process.exit(1); });
