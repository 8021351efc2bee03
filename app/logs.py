"""Logging: structlog JSON lines, and the one redaction processor every event passes.

structlog events and records from the standard library's ``logging`` (httpx
logs every request URL, signature included) end in the same handler, whose
formatter runs ``redact`` just before rendering. Nothing reaches the stream
without passing it, so a secret is masked however it was logged: under a
secret-looking key, as a ``SecretStr``, or as a registered value inside any
string (a URL, an exception message, a header dump).
"""

from __future__ import annotations

import dataclasses
import json as json_module
import logging
import re
import sys
from collections import deque
from collections.abc import Mapping, MutableMapping
from decimal import Decimal
from typing import Any, Final, TextIO
from urllib.parse import quote

import structlog
from pydantic import BaseModel, SecretBytes, SecretStr

from tui.view import LogLine

__all__ = [
    "LOG_LEVELS",
    "MASK",
    "LogTail",
    "Redactor",
    "configure_logging",
    "redact",
    "register_secret",
]

LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
MASK: Final = "***"

_SECRET_NAMES: Final = (
    r"api[-_]?key|apikey|secret|token|passw(?:or)?d|passphrase|signature"
    r"|authori[sz]ation|cookie|credential|private[-_]?key"
)
_SECRET_KEY: Final = re.compile(_SECRET_NAMES, re.IGNORECASE)
# ``signature=...`` in a query string, ``"api_key": "..."`` in a JSON dump,
# ``Authorization: Bearer ...`` in a header dump: the name stays, the value goes.
_SECRET_ASSIGNMENT: Final = re.compile(
    rf"(?P<name>[\w-]*(?:{_SECRET_NAMES})[\w-]*)(?P<sep>\"?\s*[=:]\s*\"?)(?:bearer\s+)?[^&\s\"',;}}]+",
    re.IGNORECASE,
)
_PLAIN: Final = (int, float, bool, Decimal, type(None))


class Redactor:
    """A structlog processor that masks secrets anywhere in an event.

    Keys are matched by name (case-insensitive, at any depth); values by type
    (``SecretStr``) and by the exact secrets registered with ``register``,
    wherever they occur inside a string, including URL-encoded.
    """

    def __init__(self) -> None:
        self._secrets: list[str] = []

    def register(self, value: str | SecretStr) -> None:
        secret = value.get_secret_value() if isinstance(value, SecretStr) else value
        if not secret:
            return
        for form in (secret, quote(secret, safe="")):
            if form not in self._secrets:
                self._secrets.append(form)
        # Longest first, so a secret that contains another is masked whole.
        self._secrets.sort(key=len, reverse=True)

    def __call__(
        self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        return {key: self._value(key, value) for key, value in event_dict.items()}

    def _value(self, key: object, value: Any) -> Any:
        if isinstance(key, str) and _SECRET_KEY.search(key):
            return MASK
        if isinstance(value, str):
            return self._text(value)
        if isinstance(value, _PLAIN):
            return value
        if isinstance(value, SecretStr | SecretBytes):
            return MASK
        if isinstance(value, Mapping):
            return {name: self._value(name, item) for name, item in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self._value(None, item) for item in value]
        if isinstance(value, BaseModel):
            return self._value(
                None, {name: getattr(value, name) for name in type(value).model_fields}
            )
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            fields = dataclasses.fields(value)
            return self._value(None, {field.name: getattr(value, field.name) for field in fields})
        text = str(value)
        masked = self._text(text)
        return value if masked == text else masked

    def _text(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return _SECRET_ASSIGNMENT.sub(rf"\g<name>\g<sep>{MASK}", text)


_REDACTOR: Final = Redactor()
_handler: logging.Handler | None = None
_tail: logging.Handler | None = None


def register_secret(value: str | SecretStr) -> None:
    """Mask ``value`` wherever it appears in any later log line; call at startup
    for every key and secret read from the environment."""
    _REDACTOR.register(value)


def redact(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """The process-wide redaction processor, for any other pipeline that shows logs."""
    return _REDACTOR(logger, method_name, event_dict)


def _stamped() -> list[structlog.typing.Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


class LogTail(logging.Handler):
    """The newest log events, redacted, as ``LogLine``s: the terminal UI's log tail.

    It is a second handler beside the stream's, fed by the same records through the same
    redaction, so the screen shows what the log file holds and never more.
    """

    def __init__(self, capacity: int = 200) -> None:
        super().__init__()
        self._lines: deque[LogLine] = deque(maxlen=capacity)
        self.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                foreign_pre_chain=_stamped(),
                processors=[
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    redact,
                    structlog.processors.JSONRenderer(serializer=json_module.dumps, default=str),
                ],
            )
        )

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields = json_module.loads(self.format(record))
        except Exception:
            self.handleError(record)
            return
        level = str(fields.pop("level", record.levelname.lower()))
        event = str(fields.pop("event", ""))
        for key in ("timestamp", "logger"):
            fields.pop(key, None)
        text = " ".join(f"{key}={value}" for key, value in fields.items())
        self._lines.append(LogLine(wall=record.created, level=level, event=event, text=text))

    def lines(self) -> tuple[LogLine, ...]:
        return tuple(self._lines)


def configure_logging(
    level: str, json: bool = True, stream: TextIO = sys.stderr, tail: LogTail | None = None
) -> None:
    """Send structlog and stdlib logging at ``level`` and above to ``stream``, redacted,
    and to ``tail`` too when given (the terminal UI's log tail).

    ``json`` selects JSON lines (timestamp in ISO UTC, level, logger, event, bound
    context); otherwise a console layout for a human at a terminal. Calling it
    again replaces the previous configuration.
    """
    global _handler, _tail
    name = level.upper()
    if name not in LOG_LEVELS:
        raise ValueError(f"unknown log level {level!r}; known: {', '.join(LOG_LEVELS)}")
    number = logging.getLevelNamesMapping()[name]
    stamped = _stamped()
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer(serializer=json_module.dumps, default=str)
        if json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=stamped,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for previous in (_handler, _tail):
        if previous is not None:
            root.removeHandler(previous)
    root.addHandler(handler)
    if tail is not None:
        root.addHandler(tail)
    _tail = tail
    root.setLevel(number)
    _handler = handler
    structlog.configure(
        processors=[
            *stamped,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(number),
        logger_factory=structlog.stdlib.LoggerFactory(),
        # Not cached: a reconfiguration (or capture_logs in a test) reaches every logger.
        cache_logger_on_first_use=False,
    )
