"""Contact types: who may read and change them (PRODUCT §6)."""

from __future__ import annotations

from accounts_gql.core.viewer import Viewer
from accounts_gql.repositories import contact_types
from accounts_gql.repositories.contact_types import ContactTypeRow, Executor


async def list_contact_types(
    db: Executor, viewer: Viewer, include_inactive: bool = False
) -> list[ContactTypeRow]:
    """Anyone may read the active types; inactive ones are for admins only."""
    return await contact_types.list_contact_types(db, include_inactive and viewer.is_admin)
