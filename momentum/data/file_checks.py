"""Checks a data file passes before it is read: inside its data directory, of a sane size.

A hostile or mistaken data directory (a symlink to /etc/passwd or /proc/self/environ, a 200 MB
"price file") is refused with one line naming the file, before any byte of it is parsed or
quoted in a message (docs/SECURITY.md).
"""
from __future__ import annotations

from pathlib import Path

from momentum.core.errors import DataError


def check_inside_root(root: Path, path: Path) -> None:
    """Refuse a file or folder that leads out of the data directory (a symlink elsewhere)."""
    real_root, real = root.resolve(), path.resolve()
    if real != real_root and real_root not in real.parents:
        raise DataError(f"{path}: leads outside the data directory {root} (to {real}); copy the "
                        f"file into the directory instead of linking it")


def check_file_size(path: Path, max_bytes: int) -> None:
    """Refuse a data file too large to be market data, before reading it."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror}); check its permissions") from None
    check_size(path, size, max_bytes)


def check_size(path: Path, size: int, max_bytes: int) -> None:
    """check_file_size with the size already known (e.g. from a directory listing)."""
    if size > max_bytes:
        raise DataError(f"{path}: {size:,} bytes is more than the {max_bytes:,} a data file may "
                        f"have; check it is the right file")
