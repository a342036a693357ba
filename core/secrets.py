"""Secrets kept as files in data_dir: private (0600) from the first byte, never half-written.

Several processes may start at once on one data_dir (`cjo serve` and `cjo worker`), so a secret
that does not exist yet is written whole to a private temporary file and linked into place: the
first writer wins and every racer reads the winner's value. Files that change (the demo keys)
are replaced atomically the same way.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["persistent_secret", "write_private"]


def _private_temp(directory: Path, content: str) -> str:
    """A 0600 temporary file in `directory` holding `content` (mkstemp creates it 0600)."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".secret-")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


def persistent_secret(path: Path, make: str) -> str:
    """The secret stored at `path`; created with the value `make` when there is none yet.

    Raises:
        RuntimeError: the file exists but is empty (deleting it would silently change the
            secret, so that is left to the operator).
    """
    if path.exists():
        secret = path.read_text().strip()
        if not secret:
            raise RuntimeError(f"{path} is empty: delete it to generate a new secret")
        return secret
    tmp = _private_temp(path.parent, make)
    try:
        try:
            os.link(tmp, path)
        except FileExistsError:
            return path.read_text().strip()
    finally:
        os.unlink(tmp)
    return make


def write_private(path: Path, content: str) -> None:
    """Replace `path` with `content` atomically; the file is 0600 before it holds anything."""
    tmp = _private_temp(path.parent, content)
    try:
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
