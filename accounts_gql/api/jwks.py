"""/.well-known/jwks.json: the public keys other services verify access tokens
with (RFC 7517; PRODUCT §6). Cached by clients for JWKS_MAX_AGE seconds, with an
ETag so that a revalidation costs a 304."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable

import orjson
from starlette.requests import Request
from starlette.responses import Response

from accounts_gql.core.keys import key_set
from accounts_gql.core.settings import Settings


def jwks_endpoint(settings: Settings) -> Callable[[Request], Awaitable[Response]]:
    body = orjson.dumps(key_set(settings).jwks())
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    headers = {"Cache-Control": f"public, max-age={settings.jwks_max_age}", "ETag": etag}

    async def jwks(request: Request) -> Response:
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(body, media_type="application/json", headers=headers)

    return jwks
