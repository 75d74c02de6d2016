"""Access tokens other services verify with the published key set (PRODUCT §6;
issue 17, 3): EdDSA keys with ids, /.well-known/jwks.json, rotation and
retirement, a generated key pair for the default local run, HS256 as a setting."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson
import pytest
from starlette.applications import Starlette

from accounts_gql.core.keys import GENERATED_KEY_FILE, key_set, new_private_key_entry
from accounts_gql.core.security import issue_access_token
from accounts_gql.core.settings import Settings
from tests.api.identity import ApiFrom
from tests.api.test_auth_two_processes import Server

ME = "{ me { username } }"
# A consumer of the tokens: it knows the JWKS URL, the issuer and the audience,
# and no key. Prints the verified claims, or the error's class and message.
VERIFIER = """
import json, sys
import jwt
url, token, issuer, audience = sys.argv[1:5]
try:
    key = jwt.PyJWKClient(url).get_signing_key_from_jwt(token)
    claims = jwt.decode(token, key.key, algorithms=["EdDSA"], issuer=issuer, audience=audience)
    print(json.dumps({"ok": True, "sub": claims["sub"], "kid": key.key_id}))
except Exception as error:
    print(json.dumps({"ok": False, "error": type(error).__name__, "message": str(error)}))
"""


def verify_elsewhere(jwks_url: str, token: str, settings: Settings) -> dict[str, Any]:
    """Verifies `token` in another Python process that knows only the JWKS URL."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            VERIFIER,
            jwks_url,
            token,
            settings.jwt_issuer,
            settings.jwt_audience,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: dict[str, Any] = orjson.loads(done.stdout)
    return result


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


async def test_the_key_set_publishes_the_public_keys_with_cache_headers(
    identity_app: Starlette, identity_config: Settings
) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=identity_app), base_url="http://jwks"
    ) as http:
        response = await http.get("/.well-known/jwks.json")
        again = await http.get(
            "/.well-known/jwks.json", headers={"if-none-match": response.headers["etag"]}
        )

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == f"public, max-age={identity_config.jwks_max_age}"
    keys = response.json()["keys"]
    assert [(k["kid"], k["kty"], k["crv"], k["alg"], k["use"]) for k in keys] == [
        ("identity-new", "OKP", "Ed25519", "EdDSA", "sig"),
        ("identity-old", "OKP", "Ed25519", "EdDSA", "sig"),
    ]
    assert all(set(k) == {"kid", "kty", "crv", "x", "alg", "use"} for k in keys), "no private part"
    assert (again.status_code, again.content) == (304, b"")


async def test_a_login_token_is_eddsa_with_the_first_keys_id(
    api_from: ApiFrom, unique: str
) -> None:
    client = await api_from("192.0.2.50")
    session = await client.sign_up(f"eddsa{unique}")
    header = jwt.get_unverified_header(session["accessToken"])
    assert (header["alg"], header["kid"]) == ("EdDSA", "identity-new")
    assert (await client.field(ME, token=session["accessToken"])) == {"username": f"eddsa{unique}"}


@pytest.mark.parametrize("case", ["HS256 keyed with the public key", "unknown Ed25519 key"])
async def test_tokens_of_other_algorithms_or_keys_are_refused(
    identity_app: Starlette, identity_config: Settings, make_user: Any, case: str
) -> None:
    user_id = await make_user()
    good = jwt.decode(
        issue_access_token(identity_config, user_id, []), options={"verify_signature": False}
    )
    if case == "HS256 keyed with the public key":
        public = key_set(identity_config).jwks()["keys"][0]
        signing_input = (
            f"{_b64(orjson.dumps({'alg': 'HS256', 'typ': 'JWT', 'kid': 'identity-new'}))}."
            f"{_b64(orjson.dumps(good))}"
        )
        mac = hmac.new(public["x"].encode(), signing_input.encode(), hashlib.sha256).digest()
        token = f"{signing_input}.{_b64(mac)}"
    else:
        stranger = key_set(
            identity_config.model_copy(
                update={"jwt_private_keys": new_private_key_entry("identity-new")}
            )
        )
        token = jwt.encode(
            good, stranger.signer.signing, algorithm="EdDSA", headers={"kid": "identity-new"}
        )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=identity_app), base_url="http://jwks"
    ) as http:
        response = await http.post(
            "/graphql", json={"query": ME}, headers={"authorization": f"Bearer {token}"}
        )
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_hs256_publishes_no_key(client: httpx.AsyncClient, settings: Settings) -> None:
    assert key_set(settings).algorithm == "HS256"
    response = await client.get("/.well-known/jwks.json")
    assert response.json() == {"keys": []}


def test_without_keys_a_key_pair_is_generated_once_into_the_data_folder(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    keys = key_set(settings)
    path = tmp_path / "data" / GENERATED_KEY_FILE
    assert keys.algorithm == "EdDSA"
    assert path.stat().st_mode & 0o777 == 0o600
    token = issue_access_token(settings, uuid.uuid4(), [])
    # Another process of the same folder (the cache aside) signs with the same key.
    reloaded = key_set(settings.model_copy(update={"jwks_max_age": 1}))
    assert reloaded.jwks() == keys.jwks()
    assert jwt.get_unverified_header(token)["kid"] == keys.signer.kid
    assert os.listdir(tmp_path / "data") == [GENERATED_KEY_FILE]
    with pytest.raises(RuntimeError, match="JWT_PRIVATE_KEYS is required"):
        key_set(Settings(app_env="production", data_dir=tmp_path / "prod"))


@pytest.fixture
def servers(database_url: str, tmp_path: Path) -> Iterator[Any]:
    """Starts `accounts-gql serve` processes with given signing keys; stops them."""
    started: list[Server] = []

    def start(name: str, private_keys: str) -> Server:
        server = Server(
            database_url,
            tmp_path,
            name,
            {"JWT_PRIVATE_KEYS": private_keys, "JWT_ALGORITHM": "EdDSA"},
        )
        started.append(server)
        server.wait_ready()
        return server

    yield start
    for server in started:
        server.stop()


SIGN_UP = "mutation($i: SignUpInput!) { signUp(input: $i) { __typename } }"
LOGIN = "mutation($i: LoginInput!) { login(input: $i) { ... on AuthPayload { accessToken } } }"


async def login_token(server: Server, username: str) -> str:
    """An access token from `login` (signing up first when the user is new)."""
    credentials = {"i": {"username": username, "password": "correct horse battery"}}
    async with httpx.AsyncClient(timeout=30) as http:
        await http.post(f"{server.url}/graphql", json={"query": SIGN_UP, "variables": credentials})
        response = await http.post(
            f"{server.url}/graphql", json={"query": LOGIN, "variables": credentials}
        )
    token: str = response.json()["data"]["login"]["accessToken"]
    return token


async def test_another_process_verifies_login_tokens_by_the_key_set_until_their_key_retires(
    servers: Any, unique: str
) -> None:
    old, new = new_private_key_entry("2026-11"), new_private_key_entry("2026-12")
    settings = Settings()

    before = servers("before", old)
    old_token = await login_token(before, f"jwks{unique}")
    verified = verify_elsewhere(f"{before.url}/.well-known/jwks.json", old_token, settings)
    assert (verified["ok"], verified["kid"]) == (True, "2026-11"), verified
    before.stop()

    # Rotation: the new key signs, the old one still verifies.
    during = servers("during", f"{new},{old}")
    new_token = await login_token(during, f"jwks{unique}")
    url = f"{during.url}/.well-known/jwks.json"
    assert verify_elsewhere(url, new_token, settings)["kid"] == "2026-12"
    assert verify_elsewhere(url, old_token, settings)["ok"] is True
    during.stop()

    # Retirement, after the longest access token's lifetime: the old key is gone.
    after = servers("after", new)
    url = f"{after.url}/.well-known/jwks.json"
    assert verify_elsewhere(url, new_token, settings)["ok"] is True
    refused = verify_elsewhere(url, old_token, settings)
    assert refused["ok"] is False
    assert refused["error"] == "PyJWKClientError"
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(
            f"{after.url}/graphql",
            json={"query": ME},
            headers={"authorization": f"Bearer {old_token}"},
        )
    assert response.status_code == 401
