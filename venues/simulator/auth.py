"""Signed requests: the API key, the signature (HMAC-SHA256 or Ed25519) and the timestamp check.

As Binance documents it (binance-spot-api-docs rest-api.md, "SIGNED endpoint
security"): the payload is ``totalParams``, the query string concatenated with the
request body (no separator), without the ``signature`` parameter, byte for byte as
sent (percent-encoding included). An HMAC key signs it with its secret, the
signature being lower- or upper-case hex; an Ed25519 key signs it with its private
key, the signature being base64 (percent-encoded in the request).

Timestamps. Binance accepts ``timestamp`` when ``timestamp < serverTime + 1000``
and ``serverTime - timestamp <= recvWindow``. The simulator's server time runs
``speed`` times faster than the client's clock (clock.py), so a client that synced
its offset with ``GET /api/v3/time`` would fall out of the window within
``recvWindow / speed``. The check therefore also accepts a timestamp that is within
the window of "the client's wall clock plus an offset the server handed out"
(every ``serverTime`` it answered, minus the wall time then): exactly what a client
that synced and kept its offset sends. At speed 1 every handed-out offset is the
same and the rule is Binance's; a clock that never synced, or is off by more than
the window from every offset, still gets -1021.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import hashlib
import hmac
from collections import deque
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from venues.simulator.errors import BinanceError, bad_api_key, bad_signature

__all__ = ["Credentials", "TimeSync", "signature_payload"]

_FUTURE_MS: Final = 1000
_OFFSETS_KEPT: Final = 4096


def signature_payload(query_string: str, body: str) -> str:
    """``totalParams`` without the signature: what the client signed."""
    return _without_signature(query_string) + _without_signature(body)


def _without_signature(raw: str) -> str:
    if "signature=" not in raw:
        return raw
    return "&".join(part for part in raw.split("&") if not part.startswith("signature="))


@dataclass(frozen=True, slots=True)
class Credentials:
    """The account's keys: one HMAC key and, optionally, one Ed25519 key."""

    api_key: str
    secret: bytes
    ed25519_api_key: str | None = None
    ed25519_key: Ed25519PublicKey | None = None

    @classmethod
    def build(
        cls, api_key: str, secret: str, ed25519_api_key: str, ed25519_pem: str | None
    ) -> Credentials:
        if ed25519_pem is None:
            return cls(api_key, secret.encode())
        key = load_pem_public_key(ed25519_pem.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("ed25519_public_key_pem is not an Ed25519 public key")
        return cls(api_key, secret.encode(), ed25519_api_key, key)

    def check_key(self, api_key: str | None) -> None:
        if not api_key:
            raise BinanceError(-2014, "API-key format invalid.", status=401)
        if not (hmac.compare_digest(api_key, self.api_key) or self._is_ed25519(api_key)):
            raise bad_api_key()

    def verify(self, api_key: str, payload: str, signature: str) -> None:
        """Raise -1022 unless ``signature`` signs ``payload`` with ``api_key``'s key."""
        if self._is_ed25519(api_key):
            assert self.ed25519_key is not None
            try:
                raw = base64.b64decode(signature, validate=True)
                self.ed25519_key.verify(raw, payload.encode())
            except (binascii.Error, InvalidSignature, ValueError):
                raise bad_signature() from None
            return
        expected = hmac.new(self.secret, payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise bad_signature()

    def _is_ed25519(self, api_key: str) -> bool:
        return self.ed25519_api_key is not None and hmac.compare_digest(
            api_key, self.ed25519_api_key
        )


class TimeSync:
    """The offsets (server time - wall time) the server has told clients, for -1021."""

    def __init__(self) -> None:
        self._order: deque[int] = deque()
        self._sorted: list[int] = []

    def handed_out(self, server_ms: int, wall_ms: int) -> None:
        offset = server_ms - wall_ms
        if self._order and self._order[-1] == offset:
            return
        self._order.append(offset)
        bisect.insort(self._sorted, offset)
        if len(self._order) > _OFFSETS_KEPT:
            oldest = self._order.popleft()
            del self._sorted[bisect.bisect_left(self._sorted, oldest)]

    def check(self, timestamp: int, recv_window: int, server_ms: int, wall_ms: int) -> None:
        """Raise -1021 unless ``timestamp`` is inside ``recv_window`` of server time,
        now or as a synced client sees it."""
        if _inside(timestamp, recv_window, server_ms):
            return
        low = timestamp - wall_ms - _FUTURE_MS  # offsets o with low < o <= high pass
        high = timestamp - wall_ms + recv_window
        index = bisect.bisect_right(self._sorted, low)
        if index < len(self._sorted) and self._sorted[index] <= high:
            return
        if timestamp >= server_ms + _FUTURE_MS:
            raise BinanceError(
                -1021, "Timestamp for this request was 1000ms ahead of the server's time."
            )
        raise BinanceError(-1021, "Timestamp for this request is outside of the recvWindow.")


def _inside(timestamp: int, recv_window: int, server_ms: int) -> bool:
    return timestamp < server_ms + _FUTURE_MS and server_ms - timestamp <= recv_window
