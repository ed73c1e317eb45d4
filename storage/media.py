"""Content-addressed storage of citizens' photos and PDFs under MEDIA_DIR.

A file is named by the sha256 of its content and fanned out by the first two byte pairs of the
hash (``ab/cd/abcd…``), so the same content is stored once and a name can never escape the root.
Writes are atomic: a temporary file in the target directory, fsync, then rename. The caller
records type, size and hash in the database (``storage.cases.Document``).
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

_SHA256 = re.compile(r"[0-9a-f]{64}")
TEMP_PREFIX = ".tmp-"


class MediaStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path(self, sha256: str) -> Path:
        """Where content with this hash lives; ValueError unless ``sha256`` is 64 hex digits."""
        if not isinstance(sha256, str):
            raise ValueError("sha256 must be a string")
        digest = sha256.lower()
        if not _SHA256.fullmatch(digest):
            raise ValueError("sha256 must be 64 hexadecimal digits")
        return self.root / digest[:2] / digest[2:4] / digest

    def save(self, content: bytes) -> tuple[str, Path]:
        """Store ``content`` (once) and return ``(sha256 hex, path)``; idempotent and atomic."""
        digest = hashlib.sha256(content).hexdigest()
        target = self.path(digest)
        if target.is_file() and target.stat().st_size == len(content):
            return digest, target
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as tmp:
                tmp.write(content)
                tmp.flush()
                os.fsync(tmp.fileno())
            os.chmod(tmp_name, 0o640)
            # Same name means same content: replacing a concurrent writer's file is harmless.
            os.replace(tmp_name, target)
        finally:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)
        _fsync_dir(target.parent)
        return digest, target

    def read(self, sha256: str) -> bytes:
        """The stored content (FileNotFoundError if it was never saved)."""
        return self.path(sha256).read_bytes()

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable (best effort: not every platform can open a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
