"""Group: its GraphQL type, order and connection, and the root fields that find groups.

The fields that need data are the reads of services/reads/groups.py; the rest are
the row's attributes (GroupRow, services/reads/rows.py).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import strawberry

from accounts_gql.api.fields import data_field, row_field
from accounts_gql.api.types.membership import MemberConnection, MembershipRole
from accounts_gql.api.types.node import Node
from accounts_gql.api.types.page_info import PageInfo
from accounts_gql.core.ids import encode_id
from accounts_gql.services.reads import groups as reads
from accounts_gql.services.reads.rows import GroupRow


@strawberry.enum
class GroupOrder(enum.Enum):
    CREATED_AT_ASC = "created_at_asc"
    CREATED_AT_DESC = "created_at_desc"
    SLUG_ASC = "slug_asc"
    SLUG_DESC = "slug_desc"


def _group_id(row: GroupRow) -> str:
    return encode_id("Group", row.id)


def _members(
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
    role: MembershipRole | None = None,
) -> dict[str, Any]:
    role_value = role.value if role else None
    return {"first": first, "after": after, "last": last, "before": before, "role": role_value}


@strawberry.type(name="Group", description="A named set of users with roles.")
class Group(Node):
    id: strawberry.ID = row_field(_group_id, ("id",))
    slug: str
    name: str
    description: str
    version: int
    created_at: datetime
    updated_at: datetime
    member_count: int = data_field(reads.GROUP_MEMBER_COUNT)
    members: MemberConnection = data_field(
        reads.GROUP_MEMBERS, _members, description="The group's members, in the order they joined."
    )

    @classmethod
    def is_type_of(cls, obj: Any, info: Any) -> bool:
        return isinstance(obj, GroupRow)


@strawberry.type
class GroupEdge:
    """services/reads/groups.py: GroupEdgeRow."""

    cursor: str
    node: Group


@strawberry.type
class GroupConnection:
    """services/reads/groups.py: GroupConnectionRow."""

    edges: list[GroupEdge]
    page_info: PageInfo
    nodes: list[Group]
    total_count: int = data_field(
        reads.GROUPS_TOTAL_COUNT, description="How many groups match, over all pages."
    )


def _group(id: strawberry.ID | None = None, slug: str | None = None) -> dict[str, Any]:
    return {"id": id, "slug": slug}


def _groups(
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
    search: str | None = None,
    order_by: GroupOrder = GroupOrder.CREATED_AT_ASC,
) -> dict[str, Any]:
    return {
        "first": first,
        "after": after,
        "last": last,
        "before": before,
        "search": search,
        "order": order_by.value,
    }


@strawberry.type
class GroupQueries:
    group: Group | None = data_field(
        reads.GROUP, _group, description="A group by global id or by slug."
    )
    groups: GroupConnection = data_field(
        reads.GROUPS, _groups, description="Groups, a page at a time (keyset pagination)."
    )
