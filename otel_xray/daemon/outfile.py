"""The daemon's ``--out`` file: JSON lines, capped in size and rotated.

One datagram can become many records (a batch of OTLP spans), and a daemon
left running fills a disk. So the file is rotated as log files are: when the
next record would take ``FILE`` past ``max_bytes``, ``FILE`` becomes
``FILE.1`` (``FILE.1`` becomes ``FILE.2``, and so on), the one beyond
``backups`` is deleted and a new ``FILE`` is begun. Records are never split;
one larger than ``max_bytes`` gets a file of its own. The files together hold
at most ``backups + 1`` times ``max_bytes`` (plus, at most, one such large
record each). ``max_bytes`` 0 means no cap.

Internal: a part of the ``otel-xray`` command (see ``otel_xray.__all__`` for
the public API).
"""

from __future__ import annotations

import os
import re
from typing import IO, Optional

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
DEFAULT_BACKUPS = 4
_SIZE = re.compile(r"([0-9]+)\s*([kmg]?)b?", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def parse_size(text: str) -> int:
    """Bytes from ``"1000"``, ``"64k"``, ``"10M"``, ``"10MB"``, ``"1G"`` (binary units)."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a size: use a whole number of bytes, optionally with K, M or G")
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


class RotatingTextFile:
    """A text file appended to record by record (UTF-8), rotated past ``max_bytes``.

    Each :meth:`write` should be one whole record (one JSON line): rotation
    happens between writes. ``rotations`` counts how often it happened.
    """

    def __init__(self, path: str, max_bytes: int = DEFAULT_MAX_BYTES, backups: int = DEFAULT_BACKUPS) -> None:
        if max_bytes < 0 or backups < 0:
            raise ValueError("max_bytes and backups must not be negative")
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self.rotations = 0
        self._file: Optional[IO[str]] = None
        self._file = self._open("a")
        self._size = os.fstat(self._file.fileno()).st_size

    def _open(self, mode: str) -> IO[str]:
        # newline="": the byte count is what is written, on every platform.
        return open(self.path, mode, encoding="utf-8", newline="")

    def write(self, text: str) -> int:
        size = len(text.encode("utf-8"))
        if self.max_bytes and self._size and self._size + size > self.max_bytes:
            self._rotate()
        if self._file is None:
            raise ValueError(f"{self.path} is closed")
        self._file.write(text)
        self._size += size
        return len(text)

    def _rotate(self) -> None:
        assert self._file is not None
        self._file.close()
        mode = "w"
        try:
            if self.backups:
                for index in range(self.backups - 1, 0, -1):
                    older = f"{self.path}.{index}"
                    if os.path.exists(older):
                        os.replace(older, f"{self.path}.{index + 1}")
                os.replace(self.path, f"{self.path}.1")
        except OSError:
            mode = "a"  # keep writing where we were; the caller counts the error
            raise
        finally:
            self._file = self._open(mode)
            self._size = os.fstat(self._file.fileno()).st_size
        self.rotations += 1

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> "RotatingTextFile":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
