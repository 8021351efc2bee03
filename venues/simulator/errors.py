"""Binance's error answers: ``{"code": ..., "msg": ...}`` with the HTTP status and text it uses.

Codes and messages follow binance-spot-api-docs errors.md (the messages a client
may match on are copied verbatim; ``%s`` slots filled with the parameter name).
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "AMOUNT_PATTERN",
    "CLIENT_ID_PATTERN",
    "BinanceError",
    "bad_api_key",
    "bad_signature",
    "duplicate_order",
    "filter_failure",
    "illegal_characters",
    "insufficient_balance",
    "invalid_symbol",
    "mandatory",
    "not_required",
    "order_does_not_exist",
    "unknown_order",
    "would_take",
]

AMOUNT_PATTERN: Final = r"^([0-9]{1,20})(\.[0-9]{1,20})?$"
CLIENT_ID_PATTERN: Final = r"^[\.A-Z\:/a-z0-9_-]{1,36}$"


class BinanceError(Exception):
    """A request Binance refuses: ``code``/``msg`` for the body, ``status`` for HTTP."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.status = status

    def payload(self) -> dict[str, object]:
        return {"code": self.code, "msg": self.msg}


def mandatory(name: str) -> BinanceError:
    return BinanceError(
        -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def illegal_characters(name: str, legal: str) -> BinanceError:
    return BinanceError(
        -1100, f"Illegal characters found in parameter '{name}'; legal range is '{legal}'."
    )


def not_required(name: str) -> BinanceError:
    return BinanceError(-1106, f"Parameter '{name}' sent when not required.")


def invalid_symbol() -> BinanceError:
    return BinanceError(-1121, "Invalid symbol.")


def bad_signature() -> BinanceError:
    return BinanceError(-1022, "Signature for this request is not valid.")


def bad_api_key() -> BinanceError:
    return BinanceError(-2015, "Invalid API-key, IP, or permissions for action.", status=401)


def insufficient_balance() -> BinanceError:
    return BinanceError(-2010, "Account has insufficient balance for requested action.")


def duplicate_order() -> BinanceError:
    return BinanceError(-2010, "Duplicate order sent.")


def would_take() -> BinanceError:
    return BinanceError(-2010, "Order would immediately match and take.")


def filter_failure(name: str) -> BinanceError:
    return BinanceError(-1013, f"Filter failure: {name}")


def unknown_order() -> BinanceError:
    return BinanceError(-2011, "Unknown order sent.")


def order_does_not_exist() -> BinanceError:
    return BinanceError(-2013, "Order does not exist.")
