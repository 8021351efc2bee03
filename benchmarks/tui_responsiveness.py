"""The terminal UI under load: a paper session at about 2,000 bus events a second.

Runs the session as ``tickdeck`` does, in a child process (``tickdeck serve``: the
simulator at a high speed, the seven actors, the journal), twice for the same time:
with nothing but the control link watching, then with the real ``DeskApp``
(Textual, headless driver) attached while a user presses keys. Prints:

- bus events/s (journal frames per second) without and with the UI, and their
  ratio: the UI must not slow the actors;
- redraws per second (``show`` calls on the active screen for new views, the one
  each screen switch makes aside): at most 10;
- key to screen: a screen switch (1..6) pressed to drawn, p50/p99 (a screen's
  first visit, which composes it, reported apart);
- halt: ctrl+k pressed to HALTED in the view the UI shows (through the control
  API and back), p50/p99; each halt is lifted with a Resume before the next.

    uv run python benchmarks/tui_responsiveness.py [--speed 14000] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import anyio

from actors.messages import Resume
from app.serve import read_control_file
from tui.app import DeskApp
from tui.link import LinkError
from tui.remote import RemoteDesk

ROOT = Path(__file__).resolve().parents[1]


def _serve(data_dir: Path, speed: float) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TICKDECK_TUI__SIMULATOR_SPEED": str(speed),
        "TICKDECK_LOG__LEVEL": "WARNING",
        "TICKDECK_JOURNAL__SNAPSHOT_EVERY": "1000000",
        "TICKDECK_RISK__DAILY_LOSS_LIMIT": "0",
        "TICKDECK_STRATEGY__PARAMS__FAST": "2",
        "TICKDECK_STRATEGY__PARAMS__SLOW": "4",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--simulator", "--port", "0",
         "--config", str(ROOT / "configs" / "paper.toml"), "--data-dir", str(data_dir),
         "--session", "bench"],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _control(data_dir: Path, process: subprocess.Popen[bytes]) -> dict[str, str]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the session exited")
        try:
            return read_control_file(data_dir / "journal" / "bench")
        except LinkError:
            time.sleep(0.05)
    raise RuntimeError("the session did not serve")


async def _running(link: RemoteDesk) -> None:
    with anyio.fail_after(60):
        while (view := link.view()) is None or view.session.state != "running":
            await anyio.sleep(0.02)


def _seq(link: RemoteDesk) -> int:
    view = link.view()
    return view.journal.last_seq if view is not None else 0


async def headless(control: dict[str, str], seconds: float) -> float:
    async with RemoteDesk(control["address"], control["token"]) as link:
        await _running(link)
        first, start = _seq(link), time.monotonic()
        await anyio.sleep(seconds)
        return (_seq(link) - first) / (time.monotonic() - start)


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def with_ui(control: dict[str, str], seconds: float) -> dict[str, float]:
    shows = 0
    async with RemoteDesk(control["address"], control["token"]) as link:
        await _running(link)
        app = DeskApp(link)
        for screen in app.desk_screens.values():
            original = screen.show

            def counted(view, _show=original) -> None:
                nonlocal shows
                shows += 1
                _show(view)

            screen.show = counted  # type: ignore[method-assign]
        switches: list[float] = []
        first_visits: list[float] = []
        visited = {"1"}
        halts: list[float] = []
        async with app.run_test(headless=True, size=(100, 30)) as pilot:
            await pilot.pause(0.5)
            first, start = _seq(link), time.monotonic()
            shows_start = shows
            keys = "231456"
            index = 0
            while time.monotonic() - start < seconds:
                key = keys[index % len(keys)]
                index += 1
                began = time.perf_counter()
                await pilot.press(key)
                await pilot.pause()
                taken = (time.perf_counter() - began) * 1000
                # A screen's first visit composes it; the figures are for later ones.
                (switches if key in visited else first_visits).append(taken)
                visited.add(key)
                if index % 6 == 0:
                    began = time.perf_counter()
                    await pilot.press("ctrl+k")
                    while app.view is None or app.view.risk.state != "HALTED":
                        await pilot.pause(0.002)
                    halts.append((time.perf_counter() - began) * 1000)
                    await link.command(Resume(ts=0, reason="benchmark"))
                    while app.view.risk.state == "HALTED":
                        await pilot.pause(0.005)
                await pilot.pause(0.1)
            elapsed = time.monotonic() - start
            rate = (_seq(link) - first) / elapsed
            # One show per switch is the switch itself; the rest are the views' redraws.
            redraws = (shows - shows_start - len(switches) - len(first_visits)) / elapsed
    return {
        "rate": rate,
        "redraws": redraws,
        "switch_p50": statistics.median(switches),
        "switch_p99": _percentile(switches, 0.99),
        "halt_p50": statistics.median(halts) if halts else float("nan"),
        "halt_p99": _percentile(halts, 0.99) if halts else float("nan"),
        "switches": len(switches),
        "first_visit_max": max(first_visits, default=float("nan")),
        "halts": len(halts),
    }


def _measure(data_dir: Path, speed: float, run) -> object:
    process = _serve(data_dir, speed)
    try:
        return asyncio.run(run(_control(data_dir, process)))
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", type=float, default=14_000.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tickdeck-tui-bench-") as tmp:
        base = _measure(Path(tmp) / "a", args.speed, lambda c: headless(c, args.seconds))
        ui = _measure(Path(tmp) / "b", args.speed, lambda c: with_ui(c, args.seconds))
    print(f"simulator speed:             {args.speed:,.0f}x")
    print(f"bus events/s headless:       {base:,.0f}")
    print(f"bus events/s with the UI:    {ui['rate']:,.0f}  (ratio {ui['rate'] / base:.2f})")
    print(f"redraws/s from new views:    {ui['redraws']:.1f}  (limit 10)")
    print(
        f"screen switch key to drawn:  p50 {ui['switch_p50']:.1f} ms, "
        f"p99 {ui['switch_p99']:.1f} ms  ({ui['switches']:.0f} presses; a screen's first "
        f"visit, which composes it, at most {ui['first_visit_max']:.0f} ms)"
    )
    print(
        f"ctrl+k to HALTED in the UI:  p50 {ui['halt_p50']:.1f} ms, "
        f"p99 {ui['halt_p99']:.1f} ms  ({ui['halts']:.0f} halts)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
