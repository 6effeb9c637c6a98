#!/usr/bin/env bash
# One command sets livehmr up: a virtual environment in .venv, the package with its
# dev extras, and the one-time Anny model cache and renderer compilation; then, if asked,
# runs the demo (bash setup.sh demo [demo options]) or the tests (bash setup.sh test).
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "livehmr needs Python >= 3.11")'
[ -d .venv ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --quiet --upgrade pip
# torch first, pinned: where a local CPU wheel is offered (as on our machines) it is used;
# an unpinned 'torch' would pull a multi-GB CUDA build that the CPU pipeline does not need.
.venv/bin/python -m pip install --quiet --quiet "torch==2.13.0"
.venv/bin/python -m pip install --quiet --quiet -e ".[dev]"
# static checkers (pyright) find the package through this link: the checkout itself is `livehmr`
mkdir -p .venv/src && ln -sfn "$PWD" .venv/src/livehmr
.venv/bin/livehmr setup
case "${1:-}" in
  demo) shift; exec .venv/bin/livehmr demo "$@" ;;             # bash setup.sh demo: set up, then the demo
  test) shift; exec .venv/bin/python -m pytest -q "$@" ;;      # bash setup.sh test: set up, then the tests
  "") echo "done: activate with 'source .venv/bin/activate', then run 'livehmr demo'" ;;
  *) echo "setup.sh: unknown action '$1' (demo | test | nothing)" >&2; exit 2 ;;
esac
