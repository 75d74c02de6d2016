"""Persisted documents: the `extensions.persistedQuery.sha256Hash` convention that
Apollo clients send (automatic persisted queries), and trusted documents.

A client sends the hash alone; when the service does not know it, the answer is
PERSISTED_QUERY_NOT_FOUND and the client sends the hash with the document, which
is checked and remembered. Each replica remembers on its own, which is enough:
a replica that does not know a hash asks for the document again.

With TRUSTED_DOCUMENTS set to a manifest (a JSON object of hash -> document, as
client build tools emit), only those documents run: anything else is refused.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from pathlib import Path
from typing import Any

import orjson
from graphql import GraphQLError


def sha256_hex(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def _error(message: str, code: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code})


class PersistedDocuments:
    def __init__(self, trusted_manifest: Path | None = None, max_size: int = 1000) -> None:
        self.max_size = max_size
        self.trusted: dict[str, str] | None = None
        if trusted_manifest is not None:
            manifest = orjson.loads(trusted_manifest.read_bytes())
            self.trusted = {key: value for key, value in manifest.items() if isinstance(value, str)}
        self._known: OrderedDict[str, str] = OrderedDict()

    def resolve(self, query: str | None, extensions: dict[str, Any] | None) -> str:
        """The document text to run; a GraphQLError when it cannot be had."""
        persisted = (extensions or {}).get("persistedQuery")
        if not isinstance(persisted, dict):
            if self.trusted is not None:
                raise _error(
                    "Only trusted documents run here; send a known hash.", "UNTRUSTED_DOCUMENT"
                )
            if query is None:
                raise _error("The request must have a 'query' string.", "BAD_REQUEST")
            return query
        digest = persisted.get("sha256Hash")
        if persisted.get("version") != 1 or not isinstance(digest, str):
            raise _error("persistedQuery needs version 1 and a sha256Hash.", "BAD_REQUEST")
        if self.trusted is not None:
            document = self.trusted.get(digest)
            if document is None:
                raise _error("That document is not trusted here.", "UNTRUSTED_DOCUMENT")
            return document
        if query is None:
            known = self._known.get(digest)
            if known is None:
                raise _error("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND")
            self._known.move_to_end(digest)
            return known
        if sha256_hex(query) != digest:
            raise _error("The sha256Hash does not match the query.", "BAD_REQUEST")
        self._known[digest] = query
        if len(self._known) > self.max_size:
            self._known.popitem(last=False)
        return query
