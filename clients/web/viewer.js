// livehmr web viewer: skinned bodies, the floor, and the camera with its trajectory,
// in livehmr's world (metres, Z up), fed frame by frame over /ws (see clients/web_viewer.py).
import {
  BufferGeometry, Color, DirectionalLight, Float32BufferAttribute, GLTFLoader,
  HemisphereLight, Line, LineBasicMaterial, LineSegments, Matrix4, OrbitControls, PerspectiveCamera,
  Scene, SkeletonUtils, Vector3, WebGLRenderer,
} from "/vendor/three.bundle.min.js";

const TRAIL = 600;          // camera and root trail length, frames
const FORGET_MS = 3000;     // a person not seen for this long is removed

const canvas = document.getElementById("view");
const statusLine = document.getElementById("status");
const renderer = new WebGLRenderer({ canvas, antialias: true, preserveDrawingBuffer: true });
renderer.setPixelRatio(window.devicePixelRatio);
const scene = new Scene();
scene.background = new Color(0x20242b);
const camera = new PerspectiveCamera(50, 1, 0.05, 200);
camera.up.set(0, 0, 1);
camera.position.set(-3, -5, 3);
const controls = new OrbitControls(camera, canvas);
controls.target.set(3, 0, 0.9);
controls.update();

scene.add(new HemisphereLight(0xffffff, 0x404040, 1.6));
const sun = new DirectionalLight(0xffffff, 1.8);
sun.position.set(2, -3, 6);
scene.add(sun);
// The floor z = 0: a 1 m grid built of 1 m segments (some WebGL implementations drop a
// whole line that passes behind the eye rather than clip it, so no line is long).
{
  const p = [];
  for (let a = -20; a <= 20; a++) {
    for (let b = -20; b < 20; b++) p.push(a, b, 0, a, b + 1, 0, b, a, 0, b + 1, a, 0);
  }
  const geometry = new BufferGeometry();
  geometry.setAttribute("position", new Float32BufferAttribute(p, 3));
  scene.add(new LineSegments(geometry, new LineBasicMaterial({ color: 0x5a6170 })));
}

// -- the camera: a frustum drawn from T_world_cam, and its trail -------------------------
const frustum = new LineSegments(new BufferGeometry(), new LineBasicMaterial({ color: 0x7fc8ff }));
frustum.matrixAutoUpdate = false;
{
  const d = 0.35, w = 0.24, h = 0.18;  // metres, OpenCV axes: x right, y down, z forward
  const c = [[-w, -h, d], [w, -h, d], [w, h, d], [-w, h, d]];
  const p = [];
  for (let i = 0; i < 4; i++) p.push(0, 0, 0, ...c[i], ...c[i], ...c[(i + 1) % 4]);
  p.push(-w * 0.4, -h, d, 0, -h * 1.6, d, 0, -h * 1.6, d, w * 0.4, -h, d);  // "up" tick
  frustum.geometry.setAttribute("position", new Float32BufferAttribute(p, 3));
}
scene.add(frustum);

function trail(color) {
  const geometry = new BufferGeometry();
  geometry.setAttribute("position", new Float32BufferAttribute(new Float32Array(TRAIL * 3), 3));
  geometry.setDrawRange(0, 0);
  const line = new Line(geometry, new LineBasicMaterial({ color }));
  line.frustumCulled = false;
  scene.add(line);
  return line;
}
function pushTrail(line, x, y, z) {
  const pos = line.geometry.attributes.position;
  const n = line.geometry.drawRange.count;
  if (n === TRAIL) pos.array.copyWithin(0, 3);
  const i = Math.min(n, TRAIL - 1);
  pos.setXYZ(i, x, y, z);
  pos.needsUpdate = true;
  line.geometry.setDrawRange(0, i + 1);
}
const cameraTrail = trail(0x7fc8ff);

// -- bodies --------------------------------------------------------------------------------
const loader = new GLTFLoader();
const templates = new Map();  // phenotype key -> Promise<gltf scene>
const people = new Map();     // id -> {root, joints, trail, seen}

function template(phenotype) {
  const key = phenotype.map((v) => v.toFixed(2)).join(",");
  if (!templates.has(key)) {
    templates.set(key, loader.loadAsync(`/body.glb?phenotype=${key}`).then((gltf) => gltf.scene));
  }
  return templates.get(key);
}

async function person(id, phenotype) {
  if (people.has(id)) return people.get(id);
  const entry = { root: null, joints: null, trail: trail(0xffb070), seen: performance.now() };
  people.set(id, entry);
  const root = SkeletonUtils.clone(await template(phenotype));
  root.traverse((o) => { if (o.isMesh) o.frustumCulled = false; });
  // The GLB turns livehmr's Z-up world into glTF's Y-up; here the scene *is* livehmr's world.
  const world = root.getObjectByName("livehmr_world");
  world.quaternion.identity();
  entry.joints = JOINT_NAMES.map((name) => root.getObjectByName(name));
  entry.root = root;
  if (people.get(id) === entry) scene.add(root); else return null;  // forgotten while loading
  return entry;
}

const JOINT_NAMES = [
  "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
  "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
  "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
  "left_hand", "right_hand",
];

function pose(entry, p) {
  if (!entry.joints) return false;
  p.quaternions.forEach((q, j) => entry.joints[j].quaternion.set(q[0], q[1], q[2], q[3]));
  entry.joints[0].position.set(p.pelvis[0], p.pelvis[1], p.pelvis[2]);
  pushTrail(entry.trail, p.pelvis[0], p.pelvis[1], 0.005);
  return true;
}

// -- the stream ------------------------------------------------------------------------------
const stats = { framesReceived: 0, framesDrawn: 0, personsDrawn: 0, lastFrame: -1, flags: [] };
window.livehmrViewer = stats;  // read by the end-to-end test
const cameraMatrix = new Matrix4();
const lookAt = new Vector3();
let connected = false, followed = false;

async function onFrame(msg) {
  stats.framesReceived += 1;
  stats.lastFrame = msg.frame;
  stats.flags = msg.flags;
  cameraMatrix.fromArray(msg.T_world_cam).transpose();  // row-major on the wire
  frustum.matrix.copy(cameraMatrix);
  pushTrail(cameraTrail, cameraMatrix.elements[12], cameraMatrix.elements[13], cameraMatrix.elements[14]);
  const now = performance.now();
  let drawn = 0;
  for (const p of msg.persons) {
    const entry = await person(p.id, p.phenotype);
    if (!entry) continue;
    entry.seen = now;
    if (pose(entry, p)) drawn += 1;
    if (!followed) {  // a three-quarter view of the first body and the camera once; the mouse owns it afterwards
      const cam = new Vector3().setFromMatrixPosition(cameraMatrix);
      lookAt.set(p.pelvis[0], p.pelvis[1], p.pelvis[2]);
      const toBody = lookAt.clone().sub(cam).setZ(0);
      const side = new Vector3(-toBody.y, toBody.x, 0);
      camera.position.copy(cam).addScaledVector(toBody, -0.6).addScaledVector(side, 0.9).setZ(cam.z + 2.0);
      controls.target.copy(lookAt).lerp(cam, 0.3);
      controls.update();
      followed = true;
    }
  }
  for (const [id, entry] of people) {
    if (now - entry.seen > FORGET_MS) {
      if (entry.root) scene.remove(entry.root);
      scene.remove(entry.trail);
      people.delete(id);
    }
  }
  stats.personsDrawn = drawn;
  stats.framesDrawn += 1;
}

function connect() {
  const ws = new WebSocket(`ws://${location.host}/ws`);
  let queue = Promise.resolve();
  ws.onopen = () => { connected = true; };
  ws.onmessage = (event) => {
    const msg = JSON.parse(event.data);
    if (msg.hello) return;
    queue = queue.then(() => onFrame(msg)).catch((e) => console.error(e));
  };
  ws.onclose = () => { connected = false; setTimeout(connect, 1000); };
}
connect();

function resize() {
  const w = canvas.clientWidth, h = canvas.clientHeight;
  if (canvas.width !== w * window.devicePixelRatio || canvas.height !== h * window.devicePixelRatio) {
    renderer.setSize(w, h, false);
    camera.aspect = w / h;
    camera.updateProjectionMatrix();
  }
}

function animate() {
  resize();
  renderer.render(scene, camera);
  const state = connected ? "live" : "<span class=bad>disconnected, retrying</span>";
  statusLine.innerHTML = `livehmr ${state}  frame ${stats.lastFrame}  people ${stats.personsDrawn}` +
    (stats.flags.length ? `  flags ${stats.flags.join(",")}` : "");
  requestAnimationFrame(animate);
}
animate();
