"""Where the real public fixtures live: ``../shared/fixtures/real`` beside the repository,
or under ``$SHARED_DIR``. They are never copied into the repository, and a test that
needs them skips when they are absent. (Not a ``TICKDECK_`` variable: the settings
treat every one of those as configuration and refuse unknown keys.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def shared_fixtures() -> Path:
    default = Path(__file__).resolve().parents[1].parent / "shared"
    root = Path(os.environ.get("SHARED_DIR", default)) / "fixtures" / "real"
    if not root.is_dir():
        pytest.skip(f"real fixtures not found at {root}")
    return root
