// livehmr phone page: camera frames (JPEG) and motion sensors, stamped on this page's one
// clock (performance.now()), sent over a WebSocket; the skeleton livehmr sends back is drawn
// over the preview. Protocol: livehmr/stream/phone/protocol.py.
"use strict";

const PAGE_VERSION = 1; // the server refuses another version (close code 4001: reload)
const MAX_SIDE = 640; // frames are scaled so their longer side is at most this
const MAX_IN_FLIGHT = 2; // frames sent and not yet answered; more waiting = the page skips frames
const JPEG_QUALITY = 0.9; // BlazePose loses accuracy to JPEG artefacts (docs/phone.md)
const IMU_EVERY_MS = 50;
// SMPL-24 parents, for the bones of the overlay
const PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21];

const token = new URLSearchParams(location.search).get("token") || "";
// what the page did, for the user and for tests (window.livehmrPhone)
const stats = { version: PAGE_VERSION, state: "idle", sensor: "none", sent: 0, skipped: 0, results: 0,
                gyroSamples: 0, videoStartT: null, firstFrameT: null, firstGyroT: null, lastGyroT: null, latencyMs: [], serverMs: [], persons: 0, drawnBones: 0, closed: null, error: null };
window.livehmrPhone = stats;

const video = document.getElementById("preview");
const overlay = document.getElementById("overlay");
const info = document.getElementById("info");
const frameCanvas = document.createElement("canvas");
let ws = null, seq = 0, inFlight = 0, skippedSinceSent = 0;
let gyroBatch = [], accelBatch = [];
const sentAt = new Map(); // seq -> [t_ms, width, height]
let lastResult = null;

function say(text) { info.textContent = text; }

function orientation() {
  let angle = Number(screen.orientation ? screen.orientation.angle : window.orientation);
  if (!Number.isFinite(angle)) angle = 0;
  return (((Math.round(angle / 90) * 90) % 360) + 360) % 360; // 0, 90, 180 or 270
}

async function startSensors() {
  // iOS Safari: motion sensors need a permission asked from the user's tap
  if (typeof DeviceMotionEvent !== "undefined" && typeof DeviceMotionEvent.requestPermission === "function") {
    if ((await DeviceMotionEvent.requestPermission()) !== "granted") throw new Error("motion sensors refused");
  }
  if ("Gyroscope" in window) {
    try {
      const gyro = new Gyroscope({ frequency: 100 });
      gyro.addEventListener("reading", () => gyroBatch.push([gyro.timestamp || performance.now(), gyro.x, gyro.y, gyro.z]));
      gyro.addEventListener("error", (e) => { stats.error = "gyroscope: " + e.error.name; });
      gyro.start();
      if ("Accelerometer" in window) {
        const acc = new Accelerometer({ frequency: 60 });
        acc.addEventListener("reading", () => accelBatch.push([acc.timestamp || performance.now(), acc.x, acc.y, acc.z]));
        acc.start();
      }
      stats.sensor = "Gyroscope";
      return;
    } catch (e) { /* not allowed here: DeviceMotionEvent below */ }
  }
  const d = Math.PI / 180;
  window.addEventListener("devicemotion", (e) => {
    const r = e.rotationRate;
    if (r && r.alpha !== null) gyroBatch.push([e.timeStamp, r.beta * d, r.gamma * d, r.alpha * d]); // deg/s about x, y, z
    const a = e.accelerationIncludingGravity;
    if (a && a.x !== null) accelBatch.push([e.timeStamp, a.x, a.y, a.z]);
  });
  stats.sensor = "DeviceMotionEvent";
}

function flushImu() {
  if (!ws || ws.readyState !== WebSocket.OPEN || (!gyroBatch.length && !accelBatch.length)) return;
  const gyro = gyroBatch.splice(0, 400), accel = accelBatch.splice(0, 400);
  if (gyro.length) {
    stats.gyroSamples += gyro.length;
    if (stats.firstGyroT === null) stats.firstGyroT = gyro[0][0];
    stats.lastGyroT = gyro[gyro.length - 1][0];
  }
  ws.send(JSON.stringify({ type: "imu", orientation: orientation(), gyro, accel }));
}

function sendFrame(tMs) {
  const w0 = video.videoWidth, h0 = video.videoHeight;
  if (!w0 || !h0) return;
  if (!ws || ws.readyState !== WebSocket.OPEN || inFlight >= MAX_IN_FLIGHT || ws.bufferedAmount > 1 << 20) {
    skippedSinceSent++;
    stats.skipped++;
    return;
  }
  const scale = Math.min(1, MAX_SIDE / Math.max(w0, h0));
  const w = Math.round(w0 * scale), h = Math.round(h0 * scale);
  frameCanvas.width = w;
  frameCanvas.height = h;
  frameCanvas.getContext("2d").drawImage(video, 0, 0, w, h);
  if (stats.firstFrameT === null) stats.firstFrameT = tMs;
  const header = { seq: seq++, t_ms: tMs, orientation: orientation(), skipped: skippedSinceSent };
  skippedSinceSent = 0;
  inFlight++;
  frameCanvas.toBlob(async (blob) => {
    const head = new TextEncoder().encode(JSON.stringify(header));
    const prefix = new Uint8Array(8);
    prefix.set([0x4c, 0x48, 0x46, 0x31]); // "LHF1"
    new DataView(prefix.buffer).setUint32(4, head.length, true);
    const jpeg = new Uint8Array(await blob.arrayBuffer());
    const message = new Uint8Array(8 + head.length + jpeg.length);
    message.set(prefix, 0);
    message.set(head, 8);
    message.set(jpeg, 8 + head.length);
    if (ws.readyState === WebSocket.OPEN) {
      sentAt.set(header.seq, [tMs, w, h]);
      ws.send(message);
      stats.sent++;
    } else inFlight--;
  }, "image/jpeg", JPEG_QUALITY);
}

function nextFrame() {
  if (video.requestVideoFrameCallback) {
    video.requestVideoFrameCallback((now, meta) => { sendFrame(meta && meta.captureTime ? meta.captureTime : now); nextFrame(); });
  } else {
    requestAnimationFrame((now) => { sendFrame(now); nextFrame(); });
  }
}

function draw() {
  const rect = overlay.getBoundingClientRect();
  overlay.width = rect.width * devicePixelRatio;
  overlay.height = rect.height * devicePixelRatio;
  const g = overlay.getContext("2d");
  g.clearRect(0, 0, overlay.width, overlay.height);
  if (!lastResult) return;
  const [, w, h] = lastResult.size;
  // the preview is drawn "contain": the frame's pixels map to a centred, scaled rectangle
  const s = Math.min(overlay.width / w, overlay.height / h);
  const ox = (overlay.width - w * s) / 2, oy = (overlay.height - h * s) / 2;
  g.lineWidth = 4 * devicePixelRatio;
  g.strokeStyle = "#00ff66";
  g.lineCap = "round";
  let drawn = 0; // bones with an end on the canvas (what a user sees of the overlay)
  const onCanvas = (x, y) => x >= 0 && y >= 0 && x < overlay.width && y < overlay.height;
  for (const person of lastResult.persons) {
    const p = person.joints;
    g.beginPath();
    for (let j = 1; j < p.length; j++) {
      const x0 = ox + p[PARENTS[j]][0] * s, y0 = oy + p[PARENTS[j]][1] * s, x1 = ox + p[j][0] * s, y1 = oy + p[j][1] * s;
      g.moveTo(x0, y0);
      g.lineTo(x1, y1);
      if (onCanvas(x0, y0) || onCanvas(x1, y1)) drawn++;
    }
    g.stroke();
  }
  stats.drawnBones = drawn;
}

function onMessage(event) {
  const m = JSON.parse(event.data);
  if (m.type === "welcome") {
    stats.state = "streaming";
    say(`streaming as ${m.stream} (${stats.sensor})`);
    nextFrame();
  } else if (m.type === "result") {
    inFlight = Math.max(0, inFlight - 1);
    const sent = sentAt.get(m.seq);
    sentAt.delete(m.seq);
    for (const old of sentAt.keys()) if (old < m.seq) { sentAt.delete(old); inFlight = Math.max(0, inFlight - 1); }
    if (!sent) return;
    stats.results++;
    stats.persons = m.persons.length;
    stats.latencyMs.push(performance.now() - sent[0]);
    stats.serverMs.push(m.server_ms);
    if (stats.latencyMs.length > 2000) { stats.latencyMs.shift(); stats.serverMs.shift(); }
    lastResult = { persons: m.persons, size: sent };
    draw();
  } else if (m.type === "error") {
    stats.error = m.message;
    say("livehmr: " + m.message);
  }
}

async function start() {
  document.getElementById("start").disabled = true;
  try {
    await startSensors();
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: false, video: { facingMode: "environment", width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 30 } } });
    video.srcObject = stream;
    await video.play();
    stats.videoStartT = performance.now();
  } catch (e) {
    stats.error = String(e);
    say("cannot start: " + e);
    return;
  }
  ws = new WebSocket(`wss://${location.host}/ws?token=${encodeURIComponent(token)}`.replace(/^wss:/, location.protocol === "https:" ? "wss:" : "ws:"));
  ws.binaryType = "arraybuffer";
  ws.onopen = () => ws.send(JSON.stringify({ type: "hello", version: PAGE_VERSION, orientation: orientation(), agent: navigator.userAgent }));
  ws.onmessage = onMessage;
  ws.onclose = (e) => {
    stats.state = "closed";
    stats.closed = e.code;
    say(e.code === 4001 ? "livehmr was updated: reload this page" : `disconnected (${e.code} ${e.reason || ""})`);
  };
  setInterval(flushImu, IMU_EVERY_MS);
  window.addEventListener("resize", draw);
}

document.getElementById("start").addEventListener("click", start);
