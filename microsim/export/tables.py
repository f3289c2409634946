"""Tables: records written as CSV, atomically."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path

from microsim.errors import InvalidInputError
from microsim.export.files import atomic_output

def write_csv(rows: Sequence[dict], path: str | os.PathLike, *, force: bool = False) -> Path:
    """Write records as a CSV table atomically (never over an existing file without ``force``).

    The columns are every key of every record, in order of first appearance; a record
    without a column leaves its cell empty.
    """
    if not rows:
        raise InvalidInputError(f"no rows to write to {path}")
    columns = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, restval="")
    writer.writeheader()
    writer.writerows(rows)
    with atomic_output(path, force=force) as tmp:
        tmp.write_text(buffer.getvalue())
    return Path(path)
