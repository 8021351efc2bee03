"""Isolation for tests of commands: they read TICKDECK_ settings and configure logging
process-wide, so each test starts from neither and leaves logging as it found it."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest
import structlog

import app.logs


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.upper().startswith("TICKDECK_"):
            monkeypatch.delenv(name)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    monkeypatch.setattr(app.logs, "_handler", app.logs._handler)
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()
