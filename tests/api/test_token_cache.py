"""Verified access tokens are remembered until they expire, and only those."""

from __future__ import annotations

import time
import uuid

import pytest

from accounts_gql.core.errors import DomainError, ErrorKind
from accounts_gql.core.security import VerifiedTokens, issue_access_token
from accounts_gql.core.settings import Settings


def test_a_remembered_token_still_expires(settings: Settings) -> None:
    tokens = VerifiedTokens(settings)
    user_id = uuid.uuid4()
    header = f"Bearer {issue_access_token(settings, user_id, ['admin'], ttl=1)}"
    first = tokens.viewer(header)
    assert first.user_id == user_id
    assert first.is_admin
    assert tokens.viewer(header) is first
    time.sleep(1.1)
    with pytest.raises(DomainError) as refused:
        tokens.viewer(header)
    assert refused.value.kind is ErrorKind.UNAUTHENTICATED
    assert "expired" in refused.value.message


def test_a_refused_token_is_refused_every_time(settings: Settings) -> None:
    tokens = VerifiedTokens(settings)
    token = issue_access_token(settings, uuid.uuid4(), [])
    forged = f"Bearer {token[:-2]}{'AA' if not token.endswith('AA') else 'BB'}"
    for _ in range(2):
        with pytest.raises(DomainError):
            tokens.viewer(forged)


def test_the_cache_is_bounded(settings: Settings) -> None:
    tokens = VerifiedTokens(settings, max_size=2)
    users = [uuid.uuid4() for _ in range(3)]
    headers = [f"Bearer {issue_access_token(settings, user, [])}" for user in users]
    for header, user in zip(headers, users, strict=True):
        assert tokens.viewer(header).user_id == user
    assert len(tokens._entries) == 2
    assert tokens.viewer(headers[0]).user_id == users[0]
