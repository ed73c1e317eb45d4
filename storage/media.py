"""Citizens' photos and PDFs under MEDIA_DIR, encrypted at rest and stored by content hash.

A file is named by the sha256 of its (plain) content and fanned out by the first two byte pairs of
the hash (``ab/cd/abcd…``), so the same content is stored once and a name can never escape the root.
The file holds the content encrypted with AES-256-GCM (``cryptography``)::

    PDWENC1 \\n <key id> \\n <12-byte nonce> <ciphertext + 16-byte tag>

with the content's hash as associated data, so a file swapped for another one does not decrypt.
Keys come from the environment (``MEDIA_KEYS``: ``id:base64key,…``, the first one encrypts, every one
decrypts). Rotation: put a new key first, keep the old ones, run ``flask --app bot media rekey`` (it
re-encrypts every file under the new key), then drop the old keys. Files written before encryption
(plain) are still read, and rekey encrypts them. Writes are atomic: a temporary file in the target
directory, fsync, then rename. The caller records type, size and hash in the database.
"""
from __future__ import annotations

import hashlib
import os
import re
import secrets
import tempfile
from pathlib import Path
from typing import Iterator, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_SHA256 = re.compile(r"[0-9a-f]{64}")
TEMP_PREFIX = ".tmp-"
MAGIC = b"PDWENC1\n"
KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class MediaKeyError(ValueError):
    """A stored file cannot be decrypted: its key is not configured, or the file was tampered with."""


class MediaStore:
    def __init__(self, root: str | Path, keys: Sequence[tuple[str, bytes]] = ()):
        self.root = Path(root)
        self.keys = list(keys)  # (id, 32-byte key); the first encrypts
        for key_id, key in self.keys:
            if not KEY_ID.match(key_id) or len(key) != 32:
                raise MediaKeyError("a media key needs an id of letters/digits and 32 bytes")

    def path(self, sha256: str) -> Path:
        """Where content with this hash lives; ValueError unless ``sha256`` is 64 hex digits."""
        if not isinstance(sha256, str):
            raise ValueError("sha256 must be a string")
        digest = sha256.lower()
        if not _SHA256.fullmatch(digest):
            raise ValueError("sha256 must be 64 hexadecimal digits")
        return self.root / digest[:2] / digest[2:4] / digest

    # ------------------------------------------------------------------------------ encryption
    def _seal(self, content: bytes, digest: str) -> bytes:
        if not self.keys:
            return content
        key_id, key = self.keys[0]
        nonce = secrets.token_bytes(12)
        return MAGIC + key_id.encode() + b"\n" + nonce + AESGCM(key).encrypt(nonce, content, digest.encode())

    def _open(self, blob: bytes, digest: str) -> bytes:
        if not blob.startswith(MAGIC):  # written before encryption: it must still be what its name says
            if hashlib.sha256(blob).hexdigest() != digest:
                raise MediaKeyError("a stored file was changed")
            return blob
        key_id, _, rest = blob[len(MAGIC):].partition(b"\n")
        key = dict(self.keys).get(key_id.decode(errors="replace"))
        if key is None:
            raise MediaKeyError(f"media key {key_id.decode(errors='replace')!r} is not configured")
        try:
            return AESGCM(key).decrypt(rest[:12], rest[12:], digest.encode())
        except InvalidTag:
            raise MediaKeyError("a stored file does not decrypt: tampered with, or a wrong key") from None

    def key_of(self, sha256: str) -> str | None:
        """The id of the key a stored file is encrypted with (None: stored plain)."""
        with open(self.path(sha256), "rb") as fh:
            head = fh.read(len(MAGIC) + 34)
        return head[len(MAGIC):].partition(b"\n")[0].decode() if head.startswith(MAGIC) else None

    # ------------------------------------------------------------------------------ files
    def save(self, content: bytes) -> tuple[str, Path]:
        """Store ``content`` (once) and return ``(sha256 hex, path)``; idempotent and atomic."""
        digest = hashlib.sha256(content).hexdigest()
        target = self.path(digest)
        if target.is_file():
            return digest, target
        self._write(target, self._seal(content, digest))
        return digest, target

    def _write(self, target: Path, blob: bytes) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as tmp:
                tmp.write(blob)
                tmp.flush()
                os.fsync(tmp.fileno())
            os.chmod(tmp_name, 0o640)
            # Same name means same content: replacing a concurrent writer's file is harmless.
            os.replace(tmp_name, target)
        finally:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)
        _fsync_dir(target.parent)

    def read(self, sha256: str) -> bytes:
        """The stored content, decrypted (FileNotFoundError if it was never saved)."""
        path = self.path(sha256)
        return self._open(path.read_bytes(), path.name)

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def delete(self, sha256: str) -> bool:
        """Remove a stored file (True when there was one)."""
        try:
            self.path(sha256).unlink()
        except FileNotFoundError:
            return False
        return True

    def stored(self) -> Iterator[str]:
        """The hashes of every stored file."""
        for path in self.root.glob("??/??/*"):
            if path.is_file() and _SHA256.fullmatch(path.name):
                yield path.name

    def rekey(self) -> int:
        """Encrypt every file under the first key (after a rotation, or plain files). Returns how many."""
        if not self.keys:
            raise MediaKeyError("no media key configured")
        changed = 0
        for digest in self.stored():
            if self.key_of(digest) != self.keys[0][0]:
                self._write(self.path(digest), self._seal(self.read(digest), digest))
                changed += 1
        return changed


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
