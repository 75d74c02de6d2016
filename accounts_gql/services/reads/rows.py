"""The rows reads and writes answer with: the objects the GraphQL types describe.

Repositories make them (frozen, slotted dataclasses); the GraphQL layer knows them
from here, through the services, as it knows nothing of repositories or SQL.
"""

from __future__ import annotations

from accounts_gql.repositories.contact_types import ContactTypeRow
from accounts_gql.repositories.contacts import ContactRow
from accounts_gql.repositories.groups import GroupRow
from accounts_gql.repositories.memberships import MembershipRow
from accounts_gql.repositories.sessions import SessionRow
from accounts_gql.repositories.users import UserRow

__all__ = ["ContactRow", "ContactTypeRow", "GroupRow", "MembershipRow", "SessionRow", "UserRow"]
