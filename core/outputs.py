"""Files livehmr writes at a user's request: never over an existing file unless asked.

Every command that writes a file the user names checks it here *before* its work begins
(a recording would otherwise be truncated the moment the recorder starts, an export
would compute for a minute and then lose the old file), and opens it exclusively, so a
file that appears in between is not clobbered either.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from livehmr.core.errors import LivehmrError, OutputExistsError


def check_output(path: str | Path, force: bool = False, option: str = "--out") -> Path:
    """``path`` as a Path if a file may be written there: refuses an existing file unless
    ``force``, and a folder in any case. Creates no file (its parent folder may be made later)."""
    path = Path(path)
    if path.is_dir():
        raise LivehmrError(f"{option} {path} is a folder; name a file")
    if path.exists() and not force:
        raise OutputExistsError(f"{option} {path} exists; pass --force to overwrite it")
    return path


def open_output(path: str | Path, force: bool = False, option: str = "--out") -> BinaryIO:
    """A new binary file at ``path`` (parents made), opened exclusively unless ``force``."""
    path = check_output(path, force, option)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return open(path, "wb" if force else "xb")
    except FileExistsError:
        raise OutputExistsError(f"{option} {path} exists; pass --force to overwrite it") from None
    except OSError as exc:
        raise LivehmrError(f"cannot write {option} {path}: {exc.strerror}") from None
