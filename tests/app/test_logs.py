from __future__ import annotations

import io
import json
import logging
import string
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, SecretStr

from app.logs import MASK, Redactor, configure_logging, register_secret

SECRET = "k3yV4lue-0123456789abcdef"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """Route logs to a buffer, then put logging back as it was."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    buffer = io.StringIO()
    configure_logging("INFO", stream=buffer)
    yield buffer
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    structlog.reset_defaults()


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def redact(event: dict, *secrets: str) -> dict:
    redactor = Redactor()
    for secret in secrets:
        redactor.register(secret)
    return dict(redactor(None, "info", event))


# --- the processor ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "api_key",
        "API-KEY",
        "apiKey",
        "secret",
        "binance_secret",
        "token",
        "password",
        "passwd",
        "signature",
        "Authorization",
        "X-MBX-APIKEY",
        "passphrase",
    ],
)
def test_secret_looking_keys_are_masked_whatever_their_case(key: str) -> None:
    assert redact({"event": "x", key: "value"})[key] == MASK


def test_secret_keys_are_masked_in_nested_mappings_and_lists() -> None:
    event = redact(
        {
            "event": "x",
            "request": {"headers": {"X-MBX-APIKEY": "k"}, "params": [{"signature": "s"}]},
        }
    )
    assert event["request"] == {"headers": {"X-MBX-APIKEY": MASK}, "params": [{"signature": MASK}]}


def test_secretstr_is_masked_under_any_key() -> None:
    assert redact(
        {"event": "x", "venue": {"credential_blob": SecretStr("s"), "x": SecretStr("s")}}
    )["venue"] == {"credential_blob": MASK, "x": MASK}


def test_registered_secret_is_masked_inside_strings() -> None:
    event = redact(
        {"event": f"connecting with {SECRET}", "url": f"https://api/x?key={SECRET}&b=2"}, SECRET
    )
    assert event == {"event": f"connecting with {MASK}", "url": f"https://api/x?key={MASK}&b=2"}


def test_registered_secret_is_masked_when_url_encoded() -> None:
    event = redact({"event": "x", "url": "https://api/x?p=a%2Fb%2Bc"}, "a/b+c")
    assert event["url"] == f"https://api/x?p={MASK}"


def test_query_and_header_assignments_are_masked_without_registration() -> None:
    event = redact(
        {
            "event": "GET https://api/v3/order?symbol=BTCUSDT&timestamp=1&signature=9f86d081",
            "dump": 'headers {"X-MBX-APIKEY": "abc"} Authorization: Bearer eyJhbGci',
        }
    )
    assert event["event"] == f"GET https://api/v3/order?symbol=BTCUSDT&timestamp=1&signature={MASK}"
    assert event["dump"] == f'headers {{"X-MBX-APIKEY": "{MASK}"}} Authorization: {MASK}'


def test_objects_are_searched_through_their_fields_and_text() -> None:
    class Keys(BaseModel):
        venue: str
        api_key: str

    @dataclass
    class Request:
        url: str

    class Url:
        def __str__(self) -> str:
            return f"https://api/x?k={SECRET}"

    event = redact(
        {
            "event": "x",
            "keys": Keys(venue="binance", api_key="k"),
            "request": Request("/?token=t"),
            "url": Url(),
            "error": ValueError(f"bad {SECRET}"),
        },
        SECRET,
    )
    assert event["keys"] == {"venue": "binance", "api_key": MASK}
    assert event["request"] == {"url": f"/?token={MASK}"}
    assert event["url"] == f"https://api/x?k={MASK}"
    assert event["error"] == f"bad {MASK}"


@given(
    secret=st.text(alphabet=string.ascii_letters + string.digits, min_size=4, max_size=40),
    before=st.text(max_size=40),
    after=st.text(max_size=40),
)
def test_registered_secret_never_survives_in_any_text(secret: str, before: str, after: str) -> None:
    event = redact({"event": before + secret + after, "nested": [{"x": secret + after}]}, secret)
    assert secret not in event["event"]
    assert secret not in event["nested"][0]["x"]


def test_harmless_values_pass_unchanged() -> None:
    event = {"event": "fill", "symbol": "BTCUSDT", "quantity": 1, "price": 2.5, "ok": True}
    assert redact(event, SECRET) == event


def test_empty_secret_is_not_registered() -> None:
    assert redact({"event": "abc"}, "") == {"event": "abc"}


# --- the configured pipeline -----------------------------------------------------------------


def test_events_are_json_lines_with_utc_timestamp_level_and_context(stream: io.StringIO) -> None:
    structlog.get_logger("tickdeck.test").bind(actor="risk").info("order_rejected", reason="limit")
    (line,) = lines(stream)
    assert line["event"] == "order_rejected"
    assert (line["level"], line["actor"], line["reason"]) == ("info", "risk", "limit")
    assert line["timestamp"].endswith("Z") and "T" in line["timestamp"]


def test_events_below_the_level_are_dropped(stream: io.StringIO) -> None:
    structlog.get_logger("t").debug("noise")
    logging.getLogger("t").debug("noise")
    assert stream.getvalue() == ""


def test_secret_never_reaches_the_stream_from_structlog(stream: io.StringIO) -> None:
    register_secret(SecretStr(SECRET))
    log = structlog.get_logger("tickdeck.venue")
    log.info("request", api_key=SECRET, url=f"https://api/x?k={SECRET}", keys=SecretStr(SECRET))
    log.bind(session={"token": SECRET}).warning(f"retrying with {SECRET}")
    try:
        raise ConnectionError(f"refused for {SECRET}")
    except ConnectionError:
        log.exception("connection_failed")
    output = stream.getvalue()
    assert SECRET not in output
    assert len(lines(stream)) == 3
    assert "refused for ***" in lines(stream)[2]["exception"]


def test_secret_never_reaches_the_stream_from_stdlib_logging(stream: io.StringIO) -> None:
    register_secret(SECRET)
    logging.getLogger("httpx").info("HTTP Request: GET %s", f"https://api/x?signature={SECRET}")
    (line,) = lines(stream)
    assert SECRET not in stream.getvalue()
    assert line["logger"] == "httpx"


def test_console_layout_is_redacted_too(stream: io.StringIO) -> None:
    buffer = io.StringIO()
    configure_logging("DEBUG", json=False, stream=buffer)
    structlog.get_logger("t").debug("login", password="hunter2")
    assert "hunter2" not in buffer.getvalue()
    assert "login" in buffer.getvalue()


def test_reconfiguring_replaces_the_handler(stream: io.StringIO) -> None:
    second = io.StringIO()
    configure_logging("INFO", stream=second)
    structlog.get_logger("t").info("once")
    assert stream.getvalue() == ""
    assert [line["event"] for line in lines(second)] == ["once"]


def test_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log level 'LOUD'"):
        configure_logging("LOUD")
