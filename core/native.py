"""Native libraries' start-up noise, kept off the user's terminal.

MediaPipe, TensorFlow Lite and NVIDIA Warp (which Anny imports) write to file
descriptor 2 from C++, some of it from their own threads a moment after a model has
loaded ("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.", absl's
"W0000 ... inference_feedback_manager.cc ...", "Warp CUDA warning: ..."). Python's
``sys.stderr`` never sees those writes, so ``contextlib.redirect_stderr`` cannot catch
them, and because they arrive asynchronously a redirect around the load alone misses
them too. :class:`NativeNoiseFilter` therefore puts a pipe on descriptor 2 for the whole
command and drops only the lines that match :data:`NOISE`; everything else native code
writes (a real error, a crash message) still reaches the terminal. Python's own
``sys.stderr`` (logging, rich) is pointed straight at the terminal, unfiltered.
"""

from __future__ import annotations

import io
import os
import re
import sys
import threading

#: start-up lines of the native libraries livehmr loads; nothing a user must act on
NOISE = tuple(re.compile(p) for p in (
    r"^INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.",
    r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    r"^[IW]\d{4} [\d:. ]+\s+\d+ \S+\.cc:\d+\] ",  # absl/glog INFO and WARNING lines (errors pass)
    r"^Warp CUDA warning: Could not find or load the NVIDIA CUDA driver",
    r"^Warp \d+\.\d+\.\d+ initialized:",
    r"^\s+(CUDA Toolkit|Devices|Kernel cache|\"cpu\"|Devices:|`?warp)",  # Warp's start-up banner, indented lines
))  # fmt: skip


def is_noise(line: str) -> bool:
    return any(p.match(line) for p in NOISE)


class NativeNoiseFilter:
    """Filters descriptor 2 through a pipe while installed (a context manager).

    On exit descriptor 2 is restored and whatever native code wrote is drained first."""

    def __init__(self):
        self._saved_fd: int | None = None
        self._saved_stderr = None
        self._thread: threading.Thread | None = None
        self.dropped = 0
        self.passthrough = False  # True: forward every line (debugging)

    def __enter__(self) -> NativeNoiseFilter:
        try:
            sys.stderr.flush()
            real = os.dup(2)
        except (OSError, ValueError, AttributeError):  # no descriptor 2 (embedded, closed): nothing to filter
            return self
        read_end, write_end = os.pipe()
        os.dup2(write_end, 2)
        os.close(write_end)
        self._saved_fd = real
        self._saved_stderr = sys.stderr
        # Python's writes go to the terminal directly (in order, unfiltered)
        sys.stderr = io.TextIOWrapper(io.FileIO(os.dup(real), "w"), encoding=getattr(self._saved_stderr, "encoding", None)
                                      or "utf-8", errors="backslashreplace", line_buffering=True)  # fmt: skip
        self._thread = threading.Thread(target=self._pump, args=(read_end, real), name="native-stderr", daemon=True)
        self._thread.start()
        return self

    def _pump(self, read_end: int, real: int) -> None:
        with io.open(read_end, "rb", buffering=0) as pipe:
            pending = b""
            while chunk := pipe.read(65536):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    self._forward(line + b"\n", real)
            if pending:
                self._forward(pending, real)

    def _forward(self, line: bytes, real: int) -> None:
        if not self.passthrough and is_noise(line.decode("utf-8", "replace")):
            self.dropped += 1
            return
        try:
            os.write(real, line)
        except OSError:
            pass

    def __exit__(self, *exc) -> None:
        if self._saved_fd is None:
            return
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(self._saved_fd, 2)  # closes the pipe's last write end: the pump drains and ends
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        replaced, sys.stderr = sys.stderr, self._saved_stderr
        try:
            replaced.close()
        except (OSError, ValueError):
            pass
        os.close(self._saved_fd)
        self._saved_fd = None
