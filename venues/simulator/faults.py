"""Fault injection: what goes wrong, where, and how often, decided by seeded draws.

A ``FaultPlan`` is a seed and a list of rules, read from TOML or JSON::

    seed = 7

    [[fault]]
    kind = "latency"            # every request waits fixed_ms + uniform(0, jitter_ms)
    fixed_ms = 50
    jitter_ms = 20

    [[fault]]
    kind = "lost_response"      # the order is placed, then the answer is late or lost
    rate = 0.2
    mode = "drop"               # or "delay" (delay_ms past the client's timeout)
    endpoints = ["POST /api/v3/order"]

or from command-line specs ``KIND[:key=value,key=value...]`` (several endpoints or
streams separated by ``;``), e.g. ``ws_drop:rate=0.01,streams=btcusdt@trade``.

Kinds (``rate`` is the share of matching requests or messages hit, default 1):

- ``latency``: ``fixed_ms``, ``jitter_ms`` added before a REST request is handled.
- ``server_error``: answer ``status`` (500/502/503/504, default 503) instead; with
  ``executed = true`` the request is carried out first (Binance: a 5xx means the
  outcome is unknown, the order may well exist).
- ``rate_limit``: a burst of HTTP 429s: for ``retry_after`` seconds every matching
  request is refused with ``Retry-After``.
- ``lost_response``: the request is carried out, then its answer is delayed by
  ``delay_ms`` (``mode = "delay"``) or the connection is dropped (``"drop"``).
  Default endpoints: ``POST /api/v3/order``.
- ``ws_disconnect``: close a WebSocket after ``every_messages`` messages or
  ``every_seconds`` seconds (``abrupt = true``: no close frame).
- ``ws_drop``, ``ws_duplicate``, ``ws_reorder``: a stream message is lost, sent
  twice, or held back and sent after the next one.

Every rule may be limited to ``endpoints`` (``"POST /api/v3/order"``, or a path for
every method) or ``streams`` (``"btcusdt@trade"``, ``"market"`` for every market
stream, ``"user"`` for the user data stream), may let the first ``skip`` matches
through and may fire at most ``limit`` times. Each rule draws from its own
``random.Random`` seeded by the plan's seed and the rule's position (and, on
WebSockets, the connection's number), once per match: the same plan and the same
requests give the same faults, whatever the other rules did.
"""

from __future__ import annotations

import json
import math
import random
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Final

__all__ = [
    "REST_KINDS",
    "STREAM_KINDS",
    "USER_STREAM",
    "FaultConfigError",
    "FaultPlan",
    "FaultRule",
    "LostResponse",
    "RestFaults",
    "ServerError",
    "StreamFaults",
    "load_fault_plan",
    "parse_fault_spec",
    "plan_from_mapping",
]

REST_KINDS: Final = ("latency", "server_error", "rate_limit", "lost_response")
STREAM_KINDS: Final = ("ws_disconnect", "ws_drop", "ws_duplicate", "ws_reorder")
USER_STREAM: Final = "user"
"""The stream name faults use for the user data stream (``/ws/<listenKey>``)."""
_MARKET: Final = "market"
_SERVER_ERRORS: Final = (500, 502, 503, 504)


class FaultConfigError(ValueError):
    """A fault file or spec that does not describe faults; the message names the rule."""


@dataclass(frozen=True, slots=True)
class FaultRule:
    kind: str
    rate: float = 1.0
    endpoints: tuple[str, ...] = ()
    streams: tuple[str, ...] = ()
    skip: int = 0
    limit: int | None = None
    fixed_ms: float = 0.0
    jitter_ms: float = 0.0
    status: int = 503
    executed: bool = False
    retry_after: float = 1.0
    mode: str = "delay"
    delay_ms: float = 10_000.0
    every_messages: int | None = None
    every_seconds: float | None = None
    abrupt: bool = False

    def __post_init__(self) -> None:
        where = f"fault {self.kind!r}"
        if self.kind not in REST_KINDS + STREAM_KINDS:
            known = ", ".join(REST_KINDS + STREAM_KINDS)
            raise FaultConfigError(f"unknown fault kind {self.kind!r}; known: {known}")
        if not 0.0 <= self.rate <= 1.0:
            raise FaultConfigError(f"{where}: rate must be in [0, 1], got {self.rate}")
        if self.skip < 0 or (self.limit is not None and self.limit < 0):
            raise FaultConfigError(f"{where}: skip and limit must be >= 0")
        if min(self.fixed_ms, self.jitter_ms, self.delay_ms, self.retry_after) < 0:
            raise FaultConfigError(f"{where}: times must be >= 0")
        if self.kind == "server_error" and self.status not in _SERVER_ERRORS:
            raise FaultConfigError(f"{where}: status must be one of {_SERVER_ERRORS}")
        if self.mode not in ("delay", "drop"):
            raise FaultConfigError(f"{where}: mode must be 'delay' or 'drop', got {self.mode!r}")
        if self.kind == "ws_disconnect":
            if self.every_messages is None and self.every_seconds is None:
                raise FaultConfigError(f"{where}: needs every_messages or every_seconds")
            if (self.every_messages is not None and self.every_messages < 1) or (
                self.every_seconds is not None and not self.every_seconds > 0
            ):
                raise FaultConfigError(f"{where}: every_messages/every_seconds must be > 0")
        if self.kind == "lost_response" and not self.endpoints:
            object.__setattr__(self, "endpoints", ("POST /api/v3/order",))
        if self.kind in REST_KINDS and self.streams:
            raise FaultConfigError(f"{where}: a REST fault takes endpoints, not streams")
        if self.kind in STREAM_KINDS and self.endpoints:
            raise FaultConfigError(f"{where}: a WebSocket fault takes streams, not endpoints")

    def matches_endpoint(self, method: str, path: str) -> bool:
        if not self.endpoints:
            return True
        return f"{method} {path}" in self.endpoints or path in self.endpoints

    def matches_stream(self, stream: str) -> bool:
        if not self.streams:
            return True
        if stream in self.streams:
            return True
        return stream != USER_STREAM and _MARKET in self.streams


@dataclass(frozen=True, slots=True)
class FaultPlan:
    seed: int = 0
    rules: tuple[FaultRule, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.rules)

    def with_rules(self, rules: Iterable[FaultRule]) -> FaultPlan:
        return FaultPlan(seed=self.seed, rules=(*self.rules, *rules))


def load_fault_plan(path: Path) -> FaultPlan:
    """A plan from a ``.toml`` or ``.json`` file: ``seed`` and a ``fault`` list of rules."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise FaultConfigError(f"{path}: cannot read the fault file: {error.strerror}") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as error:
        raise FaultConfigError(f"{path}: not valid {path.suffix.lstrip('.')}: {error}") from None
    try:
        return plan_from_mapping(data)
    except FaultConfigError as error:
        raise FaultConfigError(f"{path}: {error}") from None


def plan_from_mapping(data: Mapping[str, Any]) -> FaultPlan:
    unknown = sorted(set(data) - {"seed", "fault"})
    if unknown:
        raise FaultConfigError(f"unknown top-level keys {unknown}; expected 'seed' and 'fault'")
    seed = data.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise FaultConfigError(f"seed must be an integer, got {seed!r}")
    entries = data.get("fault", [])
    if not isinstance(entries, list):
        raise FaultConfigError("'fault' must be a list of tables ([[fault]] in TOML)")
    rules = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            raise FaultConfigError(f"fault #{index + 1} is not a table")
        try:
            rules.append(_rule(entry))
        except FaultConfigError as error:
            raise FaultConfigError(f"fault #{index + 1}: {error}") from None
    return FaultPlan(seed=seed, rules=tuple(rules))


def parse_fault_spec(spec: str) -> FaultRule:
    """``KIND[:key=value,...]`` from the command line; lists separated by ``;``."""
    kind, _, rest = spec.partition(":")
    entry: dict[str, Any] = {"kind": kind.strip()}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise FaultConfigError(f"fault spec {spec!r}: expected key=value, got {item!r}")
        entry[key.strip()] = value.strip()
    return _rule(entry, text=True)


_FIELDS: Final = {f.name: f for f in fields(FaultRule)}


def _rule(entry: Mapping[str, Any], *, text: bool = False) -> FaultRule:
    unknown = sorted(set(entry) - set(_FIELDS))
    if unknown:
        raise FaultConfigError(f"unknown keys {unknown}; known: {sorted(_FIELDS)}")
    if "kind" not in entry:
        raise FaultConfigError("a fault needs a 'kind'")
    values: dict[str, Any] = {}
    for key, value in entry.items():
        values[key] = _coerce(key, value, text)
    return FaultRule(**values)


def _coerce(key: str, value: Any, text: bool) -> Any:
    kind = _FIELDS[key].type
    try:
        if key in ("endpoints", "streams"):
            items = value.split(";") if isinstance(value, str) else list(value)
            return tuple(str(item).strip() for item in items if str(item).strip())
        if kind == "bool":
            if isinstance(value, bool):
                return value
            if text and str(value).lower() in ("true", "false", "1", "0"):
                return str(value).lower() in ("true", "1")
            raise ValueError
        if kind in ("int", "int | None"):
            if isinstance(value, bool) or (isinstance(value, float) and not text):
                raise ValueError
            return int(value)
        if kind in ("float", "float | None"):
            if isinstance(value, bool):
                raise ValueError
            number = float(value)
            if not math.isfinite(number):
                raise ValueError
            return number
        return str(value)
    except (TypeError, ValueError):
        raise FaultConfigError(f"{key}: expected {kind}, got {value!r}") from None


class _Draws:
    """One rule's seeded draws and counters: skip the first matches, fire at most limit."""

    __slots__ = ("fired", "matches", "random", "rule")

    def __init__(self, rule: FaultRule, seed: str) -> None:
        self.rule = rule
        self.random = random.Random(seed)
        self.matches = 0
        self.fired = 0

    def fires(self) -> bool:
        rule = self.rule
        draw = self.random.random()  # always drawn: the sequence does not depend on outcomes
        self.matches += 1
        if self.matches <= rule.skip or (rule.limit is not None and self.fired >= rule.limit):
            return False
        if draw < rule.rate:
            self.fired += 1
            return True
        return False


@dataclass(frozen=True, slots=True)
class ServerError:
    status: int
    executed: bool


@dataclass(frozen=True, slots=True)
class LostResponse:
    drop: bool
    delay_seconds: float


@dataclass
class RestFaults:
    """The REST side of a plan, evaluated per request in arrival order."""

    plan: FaultPlan
    _draws: dict[str, list[_Draws]] = field(init=False)
    _bursts: dict[int, float] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._draws = {kind: [] for kind in REST_KINDS}
        for index, rule in enumerate(self.plan.rules):
            if rule.kind in REST_KINDS:
                self._draws[rule.kind].append(_Draws(rule, f"{self.plan.seed}:{index}"))

    def latency_seconds(self, method: str, path: str) -> float:
        total = 0.0
        for draws in self._draws["latency"]:
            rule = draws.rule
            if rule.matches_endpoint(method, path) and draws.fires():
                total += (rule.fixed_ms + draws.random.uniform(0.0, rule.jitter_ms)) / 1000.0
        return total

    def rate_limited(self, method: str, path: str, wall: float) -> float | None:
        """Seconds the client must wait when a 429 burst covers this request."""
        for draws in self._draws["rate_limit"]:
            rule = draws.rule
            if not rule.matches_endpoint(method, path):
                continue
            until = self._bursts.get(id(draws), 0.0)
            if wall < until:
                return until - wall
            if draws.fires():
                self._bursts[id(draws)] = wall + rule.retry_after
                return rule.retry_after
        return None

    def server_error(self, method: str, path: str) -> ServerError | None:
        for draws in self._draws["server_error"]:
            if draws.rule.matches_endpoint(method, path) and draws.fires():
                return ServerError(status=draws.rule.status, executed=draws.rule.executed)
        return None

    def lost_response(self, method: str, path: str) -> LostResponse | None:
        for draws in self._draws["lost_response"]:
            rule = draws.rule
            if rule.matches_endpoint(method, path) and draws.fires():
                return LostResponse(drop=rule.mode == "drop", delay_seconds=rule.delay_ms / 1000)
        return None


class StreamFaults:
    """The WebSocket side of a plan for one connection: what each message becomes."""

    def __init__(self, plan: FaultPlan, connection: int, streams: Iterable[str]) -> None:
        streams = tuple(streams)
        self._drop: list[_Draws] = []
        self._duplicate: list[_Draws] = []
        self._reorder: list[_Draws] = []
        self.disconnect_after_messages: int | None = None
        self.disconnect_after_seconds: float | None = None
        self.abrupt = False
        targets = {"ws_drop": self._drop, "ws_duplicate": self._duplicate}
        targets["ws_reorder"] = self._reorder
        for index, rule in enumerate(plan.rules):
            if rule.kind == "ws_disconnect":
                if any(rule.matches_stream(stream) for stream in streams):
                    self._add_disconnect(rule)
            elif rule.kind in targets:
                targets[rule.kind].append(_Draws(rule, f"{plan.seed}:{index}:{connection}"))
        self._held: str | None = None
        self.routed = 0

    def _add_disconnect(self, rule: FaultRule) -> None:
        if rule.every_messages is not None:
            current = self.disconnect_after_messages
            self.disconnect_after_messages = min(
                current or rule.every_messages, rule.every_messages
            )
        if rule.every_seconds is not None:
            current_s = self.disconnect_after_seconds
            self.disconnect_after_seconds = min(current_s or rule.every_seconds, rule.every_seconds)
        self.abrupt = self.abrupt or rule.abrupt

    def route(self, stream: str, text: str) -> list[str]:
        """The frames to send now for ``text`` of ``stream``, in order (maybe none)."""
        self.routed += 1
        dropped = _any_fires(self._drop, stream)
        duplicated = _any_fires(self._duplicate, stream)
        reordered = _any_fires(self._reorder, stream)
        if dropped:
            return []
        if reordered and self._held is None:
            self._held = text
            return []
        frames = [text, text] if duplicated else [text]
        if self._held is not None:
            frames.append(self._held)
            self._held = None
        return frames

    @property
    def disconnect_due(self) -> bool:
        limit = self.disconnect_after_messages
        return limit is not None and self.routed >= limit


def _any_fires(draws_list: list[_Draws], stream: str) -> bool:
    fired = False
    for draws in draws_list:
        if draws.rule.matches_stream(stream) and draws.fires():
            fired = True
    return fired
