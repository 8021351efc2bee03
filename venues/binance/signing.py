"""Request signing for Binance's SIGNED endpoints, and the credentials that sign.

Binance signs the request's parameters exactly as they are sent: the
url-encoded query string (or form body), in the order given, without the
``signature`` parameter itself (rest-api.md, "SIGNED (TRADE and USER_DATA)
Endpoint security"). Two key kinds are accepted:

- HMAC-SHA256 with the API secret: the signature is the lower-case hex digest;
- Ed25519 with a private key (PEM): the signature is the base64 of the 64-byte
  Ed25519 signature, which the query then carries url-encoded (``+``, ``/``, ``=``).

Secrets come from the environment only (``TICKDECK_BINANCE__API_KEY`` with
``TICKDECK_BINANCE__API_SECRET`` or ``TICKDECK_BINANCE__PRIVATE_KEY_PATH``), and no
object here shows one in its ``repr``: a credentials object in a log line or a
traceback prints as masked.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final, Protocol
from urllib.parse import urlencode

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

__all__ = [
    "API_KEY_ENV",
    "API_SECRET_ENV",
    "PRIVATE_KEY_PATH_ENV",
    "Credentials",
    "CredentialsError",
    "Ed25519Signer",
    "HmacSigner",
    "Signer",
    "credentials_from_env",
    "encode_params",
]

API_KEY_ENV: Final = "TICKDECK_BINANCE__API_KEY"
API_SECRET_ENV: Final = "TICKDECK_BINANCE__API_SECRET"
PRIVATE_KEY_PATH_ENV: Final = "TICKDECK_BINANCE__PRIVATE_KEY_PATH"
_MASK: Final = "***"


class CredentialsError(ValueError):
    """Credentials that cannot sign: missing, half given, or an unreadable key file."""


class Signer(Protocol):
    """Signs the exact payload Binance will verify; returns the ``signature`` value (not
    yet url-encoded)."""

    def sign(self, payload: str) -> str: ...

    def secrets(self) -> tuple[str, ...]:
        """The secret text a log redactor must mask (none for a key kept as an object)."""
        ...


def encode_params(params: Sequence[tuple[str, str]]) -> str:
    """The query string (or form body) of ``params``, in their order, as Binance reads it."""
    return urlencode(params)


class HmacSigner:
    """HMAC-SHA256 of the payload keyed by the API secret, as lower-case hex."""

    __slots__ = ("_secret",)

    def __init__(self, secret: str) -> None:
        if not secret:
            raise CredentialsError("the API secret is empty")
        self._secret = secret.encode()

    def sign(self, payload: str) -> str:
        return hmac.new(self._secret, payload.encode(), hashlib.sha256).hexdigest()

    def secrets(self) -> tuple[str, ...]:
        return (self._secret.decode(),)

    def __repr__(self) -> str:
        return f"HmacSigner({_MASK})"


class Ed25519Signer:
    """Ed25519 signature of the payload, base64-encoded (Binance's Ed25519 API keys)."""

    __slots__ = ("_key",)

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key

    @classmethod
    def from_pem(cls, pem: bytes, password: bytes | None = None) -> Ed25519Signer:
        try:
            key = load_pem_private_key(pem, password=password)
        except (ValueError, TypeError) as error:
            # The library's message never holds key material, only what was wrong.
            raise CredentialsError(f"not a readable PEM private key: {error}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise CredentialsError(f"the PEM key is {type(key).__name__}, not an Ed25519 key")
        return cls(key)

    @classmethod
    def from_path(cls, path: Path, password: bytes | None = None) -> Ed25519Signer:
        try:
            pem = path.read_bytes()
        except OSError as error:
            raise CredentialsError(
                f"{PRIVATE_KEY_PATH_ENV}: cannot read {path}: {error.strerror}"
            ) from None
        try:
            return cls.from_pem(pem, password)
        except CredentialsError as error:
            raise CredentialsError(f"{PRIVATE_KEY_PATH_ENV}: {path}: {error}") from None

    def sign(self, payload: str) -> str:
        return base64.b64encode(self._key.sign(payload.encode())).decode("ascii")

    def secrets(self) -> tuple[str, ...]:
        return ()

    def __repr__(self) -> str:
        return f"Ed25519Signer({_MASK})"


class Credentials:
    """An API key and the signer of its requests. The key goes in the ``X-MBX-APIKEY``
    header only; ``repr`` masks both."""

    __slots__ = ("_api_key", "signer")

    def __init__(self, api_key: str, signer: Signer) -> None:
        if not api_key:
            raise CredentialsError(f"the API key is empty ({API_KEY_ENV})")
        self._api_key = api_key
        self.signer = signer

    @property
    def api_key(self) -> str:
        return self._api_key

    def secrets(self) -> tuple[str, ...]:
        """What a log redactor must mask (``app.logs.register_secret`` each at startup)."""
        return (self._api_key, *self.signer.secrets())

    def __repr__(self) -> str:
        return f"Credentials(api_key={_MASK}, signer={self.signer!r})"


def credentials_from_env(environ: Mapping[str, str] | None = None) -> Credentials | None:
    """Credentials from the environment, or ``None`` when no API key is set (public
    endpoints only). An API key needs exactly one of the secret or the key path."""
    env = os.environ if environ is None else environ
    api_key = env.get(API_KEY_ENV, "")
    secret = env.get(API_SECRET_ENV, "")
    key_path = env.get(PRIVATE_KEY_PATH_ENV, "")
    if not api_key:
        if secret or key_path:
            raise CredentialsError(f"{API_KEY_ENV} is not set, but a secret or key path is")
        return None
    if secret and key_path:
        raise CredentialsError(
            f"set one of {API_SECRET_ENV} (HMAC) or {PRIVATE_KEY_PATH_ENV} (Ed25519), not both"
        )
    if secret:
        return Credentials(api_key, HmacSigner(secret))
    if key_path:
        return Credentials(api_key, Ed25519Signer.from_path(Path(key_path)))
    raise CredentialsError(
        f"{API_KEY_ENV} is set without {API_SECRET_ENV} (HMAC) or {PRIVATE_KEY_PATH_ENV} (Ed25519)"
    )
