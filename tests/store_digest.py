"""A digest of every table of a run as the public query API gives it, for comparing two stores.

Each table's rows become lines of canonical text (a missing value empty, a whole number
written as an integer whether it came as 3 or 3.0, any other float by ``repr``, a boolean as
0 or 1), sorted, and hashed with SHA-256: two stores that hold the same information give the
same digest, whatever their row order, column types or physical layout. Columns that name the
run rather than what it holds (its key, its directory) are left out.

``python -m tests.store_digest RUN_DIR`` prints the digests of a run as JSON;
tests/data/store-digest-metro.json was made that way (tests/data/README.md says when).
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

# what identifies the run, not what it holds: differs between two runs of the same scenario
RUN_COLUMNS = frozenset({"run_id", "run_key", "directory", "label"})


def canonical(value: Any) -> str:
    """One value as digest text (see the module docstring)."""
    if value is None:
        return ""
    if isinstance(value, bool | np.bool_):
        return str(int(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        if math.isnan(number):
            return ""
        return str(int(number)) if number.is_integer() else repr(number)
    if value is getattr(sys.modules.get("pandas"), "NA", object()):
        return ""
    return str(value)


def table_digest(frame: Any, columns: list[str]) -> dict[str, Any]:
    """The digest of ``columns`` of a pandas DataFrame: rows, and SHA-256 of the sorted lines."""
    values = [frame[c].tolist() for c in columns]
    lines = sorted("\x1f".join(canonical(v) for v in row) for row in zip(*values, strict=True))
    digest = hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()
    return {"columns": columns, "rows": len(lines), "sha256": digest}


def run_digests(run_dir: Path) -> dict[str, Any]:
    """Every table of the run in ``run_dir``, read through :meth:`twin.notebook.Run.table`."""
    from twin.notebook import open_run
    from twin.store import metadata

    out: dict[str, Any] = {}
    with open_run(run_dir) as run:
        for name in sorted(metadata.tables):
            frame = run.table(name)
            columns = sorted(c for c in frame.columns if c not in RUN_COLUMNS)
            out[name] = table_digest(frame, columns)
    return out


if __name__ == "__main__":
    print(json.dumps(run_digests(Path(sys.argv[1])), indent=1, sort_keys=True))
