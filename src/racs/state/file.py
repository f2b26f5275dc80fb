"""File snapshot backend: atomic replace, owner-only permissions."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

from racs.core.errors import ERR_STATE_IO, RacsError
from racs.core.files import make_private_dirs
from racs.state.base import decode, encode


class FileState:
    """A JSON snapshot in one file.

    Writes go to a temporary file in the same directory (mode 0600), are fsynced, then
    renamed over the target: a crash at any point leaves either the old or the new file,
    never a torn one.
    """

    is_async = False

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()

    def load(self) -> dict[str, Any] | None:
        """The saved snapshot, None when the file does not exist."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise RacsError(
                ERR_STATE_IO, f"cannot read state file {self.path}: {exc.strerror}"
            ) from None
        return decode(data, str(self.path))

    def save(self, snapshot: dict[str, Any]) -> None:
        """Atomically replace the file with the snapshot."""
        text = encode(snapshot).encode("utf-8")
        directory = self.path.parent
        try:
            make_private_dirs(directory)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=directory)
        except OSError as exc:
            raise RacsError(
                ERR_STATE_IO, f"cannot write state file {self.path}: {exc.strerror}"
            ) from None
        try:
            with os.fdopen(fd, "wb") as handle:
                os.fchmod(handle.fileno(), 0o600)
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
            dir_fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)  # make the rename itself durable
            finally:
                os.close(dir_fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise RacsError(
                ERR_STATE_IO, f"cannot write state file {self.path}: {exc.strerror}"
            ) from None

    async def aload(self) -> dict[str, Any] | None:
        """``load`` off the event loop."""
        return await asyncio.to_thread(self.load)

    async def asave(self, snapshot: dict[str, Any]) -> None:
        """``save`` off the event loop."""
        await asyncio.to_thread(self.save, snapshot)


def file_state(path: str | os.PathLike[str]) -> FileState:
    """A snapshot backend writing one JSON file at ``path``."""
    return FileState(path)
