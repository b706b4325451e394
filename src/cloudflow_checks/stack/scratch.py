"""A throwaway stack state dir (tests, benchmarks): the stack in it is stopped and the dir removed."""
from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from .lifecycle import down


@contextlib.contextmanager
def scratch_state_dir(prefix: str = "cfc-scratch-") -> Iterator[Path]:
    """World-traversable and under /tmp, not pytest's 0700 tmp: PostgreSQL runs as user postgres."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        try:
            down(folder)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
