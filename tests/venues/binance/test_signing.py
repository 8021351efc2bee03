"""Signatures exactly as Binance verifies them: the documented HMAC example, an Ed25519
vector and round trip, and credentials that never show a secret."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from venues.binance.signing import (
    API_KEY_ENV,
    API_SECRET_ENV,
    PRIVATE_KEY_PATH_ENV,
    Credentials,
    CredentialsError,
    Ed25519Signer,
    HmacSigner,
    credentials_from_env,
    encode_params,
)

# binance-spot-api-docs rest-api.md, "SIGNED Endpoint Examples for POST /api/v3/order".
DOC_API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
DOC_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
DOC_PARAMS = [
    ("symbol", "LTCBTC"), ("side", "BUY"), ("type", "LIMIT"), ("timeInForce", "GTC"),
    ("quantity", "1"), ("price", "0.1"), ("recvWindow", "5000"), ("timestamp", "1499827319559"),
]  # fmt: skip
DOC_QUERY = (
    "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
    "&recvWindow=5000&timestamp=1499827319559"
)
# The value printed by the docs' own openssl command (the brief quoted a mistyped tail).
DOC_SIGNATURE = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
# Example 3 of the same page: totalParams = query string + request body, no "&" between.
DOC_MIXED_PAYLOAD = (
    "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC"
    "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
)
DOC_MIXED_SIGNATURE = "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"

# RFC 8032 section 7.1, TEST 1: the empty message.
RFC_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC_SIGNATURE = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555"
    "fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)


def _pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def test_params_encode_in_their_order_as_the_documented_query() -> None:
    assert encode_params(DOC_PARAMS) == DOC_QUERY


def test_hmac_signature_matches_binance_documented_example() -> None:
    assert HmacSigner(DOC_SECRET).sign(DOC_QUERY) == DOC_SIGNATURE


def test_hmac_signature_matches_documented_mixed_query_and_body_example() -> None:
    assert HmacSigner(DOC_SECRET).sign(DOC_MIXED_PAYLOAD) == DOC_MIXED_SIGNATURE


def test_hmac_signature_changes_with_any_parameter() -> None:
    assert HmacSigner(DOC_SECRET).sign(DOC_QUERY.replace("price=0.1", "price=0.2")) != (
        DOC_SIGNATURE
    )


def test_ed25519_signature_matches_rfc8032_vector_from_a_pem_key() -> None:
    key = Ed25519PrivateKey.from_private_bytes(RFC_SECRET)
    signer = Ed25519Signer.from_pem(_pem(key))
    assert base64.b64decode(signer.sign("")) == RFC_SIGNATURE


def test_ed25519_signature_verifies_with_the_public_key() -> None:
    key = Ed25519PrivateKey.generate()
    signature = Ed25519Signer.from_pem(_pem(key)).sign(DOC_QUERY)
    raw = base64.b64decode(signature, validate=True)
    assert len(raw) == 64
    key.public_key().verify(raw, DOC_QUERY.encode())  # raises if wrong


def test_ed25519_from_pem_refuses_a_key_of_another_kind() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    other = ec.generate_private_key(ec.SECP256R1())
    pem = other.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(CredentialsError, match="not an Ed25519 key"):
        Ed25519Signer.from_pem(pem)


def test_ed25519_from_path_names_the_variable_and_path(tmp_path: Path) -> None:
    missing = tmp_path / "absent.pem"
    with pytest.raises(CredentialsError, match=f"{PRIVATE_KEY_PATH_ENV}: cannot read"):
        Ed25519Signer.from_path(missing)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key")
    with pytest.raises(CredentialsError, match=r"garbage\.pem"):
        Ed25519Signer.from_path(garbage)


def test_credentials_from_env_hmac() -> None:
    credentials = credentials_from_env({API_KEY_ENV: DOC_API_KEY, API_SECRET_ENV: DOC_SECRET})
    assert credentials is not None
    assert credentials.api_key == DOC_API_KEY
    assert credentials.signer.sign(DOC_QUERY) == DOC_SIGNATURE
    assert set(credentials.secrets()) == {DOC_API_KEY, DOC_SECRET}


def test_credentials_from_env_ed25519(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    path = tmp_path / "key.pem"
    path.write_bytes(_pem(key))
    credentials = credentials_from_env({API_KEY_ENV: "k", PRIVATE_KEY_PATH_ENV: str(path)})
    assert credentials is not None
    key.public_key().verify(base64.b64decode(credentials.signer.sign("a=1")), b"a=1")


def test_no_api_key_means_no_credentials() -> None:
    assert credentials_from_env({}) is None


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({API_SECRET_ENV: "s"}, "is not set"),
        ({API_KEY_ENV: "k"}, "without"),
        ({API_KEY_ENV: "k", API_SECRET_ENV: "s", PRIVATE_KEY_PATH_ENV: "/x"}, "not both"),
    ],
)
def test_incomplete_credentials_are_refused(environ: dict[str, str], message: str) -> None:
    with pytest.raises(CredentialsError, match=message):
        credentials_from_env(environ)


def test_repr_never_shows_a_secret() -> None:
    credentials = Credentials(DOC_API_KEY, HmacSigner(DOC_SECRET))
    shown = repr(credentials) + str(credentials) + repr(credentials.signer)
    assert DOC_API_KEY not in shown
    assert DOC_SECRET not in shown
    assert "***" in shown
