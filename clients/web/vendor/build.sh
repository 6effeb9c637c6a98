#!/usr/bin/env bash
# Rebuilds three.bundle.min.js: three.js (MIT, see LICENSE-three.txt) with the few names the
# viewer imports, tree-shaken and minified into one ES module so that the page needs no
# network and no Node at run time. Needs npm; run it after changing THREE_VERSION or the list.
set -euo pipefail
THREE_VERSION=0.187.0
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
echo '{"private": true}' > package.json
npm install --silent --no-audit --no-fund "three@$THREE_VERSION" esbuild@0.25
cat > entry.js <<'JS'
export {
  BufferGeometry, Color, DirectionalLight, Float32BufferAttribute, HemisphereLight, Line,
  LineBasicMaterial, LineSegments, Matrix4, PerspectiveCamera, Scene, Vector3, WebGLRenderer,
} from "three";
export { GLTFLoader } from "three/addons/loaders/GLTFLoader.js";
export { OrbitControls } from "three/addons/controls/OrbitControls.js";
export * as SkeletonUtils from "three/addons/utils/SkeletonUtils.js";
JS
npx esbuild entry.js --bundle --format=esm --minify --legal-comments=inline --outfile="$here/three.bundle.min.js"
cp node_modules/three/LICENSE "$here/LICENSE-three.txt"
echo "three $THREE_VERSION" > "$here/VERSION"
