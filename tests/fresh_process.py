"""Run a snippet in a fresh Python process and say which heavy modules it imported (what a command would pay)."""

from __future__ import annotations

import subprocess
import sys


def imports_pandas(code: str) -> bool:
    """Whether running `code` (which must succeed) in a new interpreter imports pandas."""
    probe = f"{code}\nimport sys\nprint('pandas' in sys.modules)\n"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1] == "True"
