"""Folders written whole or not at all: built aside, then renamed into place.

A run directory, a capacity report and a comparison are each built in a hidden sibling of
their final place and moved there only when complete (docs/runs.md says why), so a reader sees
the old folder or the new one, never half of either.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

__all__ = ["built_aside", "swap_in"]


@contextlib.contextmanager
def built_aside(out: Path) -> Iterator[Path]:
    """Yield a new hidden sibling of ``out`` to build in, swapped in as ``out`` (replacing one
    there) when the block ends; on an error or Ctrl-C, it is removed with the parent folders
    this made, and nothing is left."""
    created = [p for p in [out.parent, *out.parent.parents] if not p.exists()]
    out.parent.mkdir(parents=True, exist_ok=True)
    building = out.with_name(f".{out.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.partial")
    building.mkdir()
    try:
        yield building
        swap_in(building, out)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        for folder in created:  # nearest first
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


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
