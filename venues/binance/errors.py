"""Binance's errors as types: what a code or HTTP status means for the caller.

Each error names the endpoint (method and path, never the query: that holds the
signature), Binance's code and its message, so a log line or a halt reason says
what failed without a secret in it. The types say what the caller may conclude:

- ``OutcomeUnknown``: the request may or may not have been executed (a timeout, a
  dropped connection, HTTP 5xx, codes -1006/-1007). An order in this state is
  neither placed nor rejected until a query by client id says which; Binance:
  "It is important to NOT treat this as a failure operation; the execution status
  is UNKNOWN and could have been a success" (errors.md, HTTP 5XX).
- ``VenueUnreachable``: nothing was sent (the connection never opened).
- everything else is Binance's answer: the request was refused and did nothing.

Codes from binance-spot-api-docs ``errors.md`` and ``rest-api.md`` (HTTP return codes).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Final

import msgspec

__all__ = [
    "BadParameter",
    "BadSignature",
    "BinanceError",
    "CancelRejected",
    "FilterFailure",
    "IpBanned",
    "NoSuchOrder",
    "OrderRejected",
    "OutcomeUnknown",
    "RateLimited",
    "TimestampOutOfWindow",
    "Unauthorized",
    "UnexpectedResponse",
    "UnknownOrder",
    "UnsupportedOrder",
    "VenueUnavailable",
    "VenueUnreachable",
    "error_from_response",
    "retry_after_seconds",
]

_MAX_BODY_SHOWN: Final = 200


class BinanceError(Exception):
    """A request Binance (or the path to it) did not carry out as asked.

    ``status`` is the HTTP status (``None`` when no response came), ``code`` Binance's
    error code (``None`` when the body had none), ``msg`` Binance's message as sent.
    ``halts_trading`` says the session must stop sending orders, not just log it.
    """

    halts_trading: ClassVar[bool] = False

    def __init__(
        self, endpoint: str, msg: str, *, code: int | None = None, status: int | None = None
    ) -> None:
        self.endpoint = endpoint
        self.msg = msg
        self.code = code
        self.status = status
        super().__init__(self._text())

    def _text(self) -> str:
        parts = [self.endpoint + ":"]
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.code is not None:
            parts.append(f"code {self.code}")
        parts.append(self.msg or "(no message)")
        return " ".join(parts)


class OutcomeUnknown(BinanceError):
    """The request may have been executed: resolve it by a query, never by a guess."""


class VenueUnavailable(OutcomeUnknown):
    """HTTP 5xx: Binance's side failed, after it may have executed the request."""


class UnexpectedResponse(BinanceError):
    """A success status with a body that is not the documented shape."""


class VenueUnreachable(BinanceError):
    """The connection never opened, so nothing was sent: safe to send again."""


class TimestampOutOfWindow(BinanceError):
    """-1021: ``timestamp`` outside ``recvWindow`` of the server's clock; resync and resend."""


class BadSignature(BinanceError):
    """-1022: the signature did not verify (wrong secret, or a payload changed after signing)."""


class Unauthorized(BinanceError):
    """-2014/-2015 or HTTP 401: the API key is malformed, unknown, or lacks the permission."""


class OrderRejected(BinanceError):
    """-2010 NEW_ORDER_REJECTED: the matching engine refused the order (``msg`` says why,
    e.g. "Account has insufficient balance for requested action.")."""


class CancelRejected(BinanceError):
    """-2011 CANCEL_REJECTED: the cancel was refused."""


class UnknownOrder(CancelRejected):
    """-2011 "Unknown order sent.": no open order with that id (never placed, or finished)."""


class NoSuchOrder(BinanceError):
    """-2013: "Order does not exist." The venue has no order with that client id."""


class FilterFailure(BinanceError):
    """-1013 (or our own check before sending): a symbol filter refused the order.

    ``filter_type`` names the filter (``LOT_SIZE``, ``PRICE_FILTER``, ``NOTIONAL``...)
    when known."""

    def __init__(
        self,
        endpoint: str,
        msg: str,
        *,
        code: int | None = -1013,
        status: int | None = None,
        filter_type: str = "",
    ) -> None:
        self.filter_type = filter_type or _filter_named_in(msg)
        super().__init__(endpoint, msg, code=code, status=status)


class BadParameter(BinanceError):
    """-11xx: a parameter is missing, malformed or not allowed (e.g. -1121 invalid symbol)."""


class UnsupportedOrder(BadParameter):
    """An order this adapter cannot express on Binance spot (caught before sending)."""


class RateLimited(BinanceError):
    """HTTP 429 / -1003: too much request weight; wait ``retry_after`` seconds."""

    def __init__(
        self,
        endpoint: str,
        msg: str,
        *,
        code: int | None = -1003,
        status: int | None = 429,
        retry_after: float | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(endpoint, msg, code=code, status=status)


class IpBanned(RateLimited):
    """HTTP 418: the IP is banned for ``retry_after`` seconds for ignoring 429s. Nothing may
    be sent until then, and trading halts: orders cannot be managed."""

    halts_trading: ClassVar[bool] = True

    def __init__(
        self,
        endpoint: str,
        msg: str,
        *,
        code: int | None = -1003,
        status: int | None = 418,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(endpoint, msg, code=code, status=status, retry_after=retry_after)


_BY_CODE: Final[Mapping[int, type[BinanceError]]] = {
    -1003: RateLimited,
    -1006: OutcomeUnknown,
    -1007: OutcomeUnknown,
    -1013: FilterFailure,
    -1021: TimestampOutOfWindow,
    -1022: BadSignature,
    -2010: OrderRejected,
    -2011: CancelRejected,
    -2013: NoSuchOrder,
    -2014: Unauthorized,
    -2015: Unauthorized,
}
_UNKNOWN_ORDER_MSG: Final = "unknown order"


class _ErrorBody(msgspec.Struct):
    code: int | None = None
    msg: str = ""


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """``Retry-After`` in seconds (Binance sends an integer); ``None`` if absent or unreadable."""
    value = headers.get("Retry-After") or headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def error_from_response(
    endpoint: str, status: int, body: bytes, headers: Mapping[str, str]
) -> BinanceError:
    """The typed error for a non-2xx response; never raises."""
    try:
        parsed: _ErrorBody | None = msgspec.json.decode(body, type=_ErrorBody)
    except msgspec.DecodeError:
        parsed = None
    code = parsed.code if parsed is not None else None
    msg = parsed.msg if parsed is not None and parsed.msg else _shown(body)
    retry_after = retry_after_seconds(headers)
    if status == 418:
        return IpBanned(endpoint, msg, code=code, retry_after=retry_after)
    if status == 429:
        return RateLimited(endpoint, msg, code=code, retry_after=retry_after)
    if status >= 500:
        return VenueUnavailable(endpoint, msg, code=code, status=status)
    if code is not None:
        kind = _BY_CODE.get(code)
        if kind is CancelRejected and _UNKNOWN_ORDER_MSG in msg.lower():
            kind = UnknownOrder
        if kind is RateLimited:
            return RateLimited(endpoint, msg, code=code, status=status, retry_after=retry_after)
        if kind is not None:
            return kind(endpoint, msg, code=code, status=status)
        if -1199 <= code <= -1100:
            return BadParameter(endpoint, msg, code=code, status=status)
    if status == 401:
        return Unauthorized(endpoint, msg, code=code, status=status)
    return BinanceError(endpoint, msg, code=code, status=status)


def _shown(body: bytes) -> str:
    text = body.decode("utf-8", errors="replace").strip()
    return text if len(text) <= _MAX_BODY_SHOWN else text[:_MAX_BODY_SHOWN] + "..."


def _filter_named_in(msg: str) -> str:
    """``LOT_SIZE`` from Binance's "Filter failure: LOT_SIZE"."""
    _, sep, rest = msg.partition("Filter failure:")
    return rest.strip().split(" ")[0].strip(".") if sep else ""
