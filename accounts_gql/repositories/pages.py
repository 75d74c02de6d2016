"""What the keyset page functions share: cursors as (sort key, id) arguments."""

from __future__ import annotations

import uuid

Cursor = tuple[str, uuid.UUID]


def cursor_args(
    after: Cursor | None, before: Cursor | None
) -> tuple[str | None, uuid.UUID | None, str | None, uuid.UUID | None]:
    """The four cursor parameters of a page function: after key/id, before key/id."""
    return (
        after[0] if after else None,
        after[1] if after else None,
        before[0] if before else None,
        before[1] if before else None,
    )
