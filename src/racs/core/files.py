"""Directories racs creates for its state, ledgers and caches: the owner's alone, whatever
the umask."""

from __future__ import annotations

import os
from pathlib import Path


def make_private_dirs(directory: str | os.PathLike[str]) -> None:
    """Create ``directory`` and any missing parents with mode 0700.

    ``Path.mkdir(parents=True, mode=...)`` gives the parents the default mode, and the
    mode it does apply is masked by the umask (0777 under ``umask 000``); each directory
    made here is therefore chmod-ed explicitly. Directories that already exist are left
    as their owner set them.
    """
    path = Path(directory)
    missing = []
    while not path.exists():
        missing.append(path)
        if path.parent == path:
            break
        path = path.parent
    for created in reversed(missing):
        try:
            created.mkdir(mode=0o700)
        except FileExistsError:  # made meanwhile by another process: theirs to keep
            continue
        os.chmod(created, 0o700)


def cache_folder() -> Path:
    """Where racs keeps what only saves time (price answers, the status line's reads):
    ``$RACS_CACHE_DIR``, else ``$XDG_CACHE_HOME/racs``, else ``~/.cache/racs``."""
    explicit = os.environ.get("RACS_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "racs"
