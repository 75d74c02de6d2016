"""Contact verification by code (PRODUCT §6; issue 17, 1).

The owner asks for a code for one of their active, unverified contacts; the
code goes out in `contact.verification_requested` (its own routing key, for the
notification service), and `verifyContact` with it sets `isVerified` and
records `contact.verified`. A code is bound to the value it was sent to: a
changed value (which unverifies the contact) voids it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from accounts_gql.core.errors import DomainError, ErrorKind
from accounts_gql.core.settings import Settings
from accounts_gql.core.viewer import Viewer
from accounts_gql.db.pool import Executor
from accounts_gql.repositories import codes as repository
from accounts_gql.repositories import contacts as contacts_repository
from accounts_gql.repositories.contacts import ContactRow
from accounts_gql.services.authorization import require_signed_in
from accounts_gql.services.codes import (
    INVALID_CODE,
    code_limits,
    looks_like_a_code,
    new_code,
    raise_for_outcome,
)


@dataclass(frozen=True, slots=True)
class VerificationSent:
    contact: ContactRow
    expires_at: datetime


async def _own_contact(db: Executor, viewer: Viewer, contact_id: uuid.UUID) -> ContactRow:
    """The viewer's own contact; anyone else's looks absent."""
    user_id = require_signed_in(viewer)
    rows = await contacts_repository.contacts_by_ids(db, [contact_id])
    if not rows or rows[0].user_id != user_id:
        raise DomainError(ErrorKind.NOT_FOUND, "No such contact.", "contactId")
    return rows[0]


async def request_contact_verification(
    db: Executor, settings: Settings, viewer: Viewer, contact_id: uuid.UUID
) -> VerificationSent:
    contact = await _own_contact(db, viewer, contact_id)
    sent = await repository.request_contact_verification(
        db, contact.id, new_code(), code_limits(settings), actor_id=viewer.user_id
    )
    if sent.retry_after > 0 or sent.expires_at is None:
        raise DomainError(
            ErrorKind.THROTTLED,
            f"A code was sent a moment ago; ask again in {sent.retry_after} s.",
            "contactId",
            {"retry_after": sent.retry_after},
        )
    return VerificationSent(contact, sent.expires_at)


async def verify_contact(
    db: Executor, viewer: Viewer, contact_id: uuid.UUID, code: str
) -> ContactRow:
    contact = await _own_contact(db, viewer, contact_id)
    if not looks_like_a_code(code):
        raise DomainError(ErrorKind.INVALID_CODE, INVALID_CODE, "code")
    tried = await repository.verify_contact(db, contact.id, code, actor_id=viewer.user_id)
    raise_for_outcome(tried.outcome)
    [verified] = await contacts_repository.contacts_by_ids(db, [contact.id])
    return verified
