"""The real ``tickdeck`` demo in a terminal (tmux): the halt key shows HALTED within a second.

Runs ``scripts/tmux_halt.sh``, which starts ``uv run tickdeck`` in a tmux pane,
waits for the overview to show the risk state ACTIVE, presses ctrl+k and reads
HALTED off the screen (the script fails if that takes more than a second).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / "scripts" / "tmux_halt.sh"


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
@pytest.mark.skipif(shutil.which("uv") is None, reason="uv is not on PATH")
def test_the_halt_key_shows_halted_on_the_real_screen_within_a_second() -> None:
    done = subprocess.run([str(SCRIPT)], capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "HALTED on screen" in done.stdout
    milliseconds = int(done.stdout.split("HALTED on screen ")[1].split(" ms")[0])
    assert milliseconds <= 1000
