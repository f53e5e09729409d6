"""Files others read (suites, reports, snapshots) are written whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomically(path: Path, data: str | bytes) -> None:
    """Through a sibling `.partial` file renamed into place: a reader never sees half a file."""
    partial = path.with_name(path.name + ".partial")
    if isinstance(data, str):
        partial.write_text(data, encoding="utf-8")
    else:
        partial.write_bytes(data)
    os.replace(partial, path)
