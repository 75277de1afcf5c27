"""Folders written whole or not at all: built aside, then renamed into place.

A run directory, a capacity report and a comparison are each built in a hidden sibling of
their final place and moved there only when complete (docs/runs.md says why), so a reader sees
the old folder or the new one, never half of either.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

__all__ = ["swap_in"]


def swap_in(building: Path, out: Path, retired: Path | None = None) -> None:
    """Put the finished folder ``building`` at ``out``. A folder already at ``out`` is renamed
    aside first (to ``retired``, by default a hidden sibling of ``out``) and removed once the
    new one is in place. Both must be on one file system (siblings are)."""
    if not out.exists():
        os.replace(building, out)
        return
    retired = retired or out.with_name(f".{out.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.replaced")
    os.replace(out, retired)
    os.replace(building, out)
    shutil.rmtree(retired, ignore_errors=True)
