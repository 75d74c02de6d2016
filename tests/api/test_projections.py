"""What a plan asks its loaders for (services/reads/loaders.py, "Projections"):
the columns its fields and reads use of each loader's rows, and whole rows for a
loader that something reads without saying what."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import uuid

import pytest
from graphql import parse

from accounts_gql.api.engine import adapter
from accounts_gql.api.engine.executor import PlannedExecution
from accounts_gql.api.fields import FIELD_SOURCE, DataSource, RowSource
from accounts_gql.api.ids import encode_id
from accounts_gql.api.schema import schema
from accounts_gql.services.reads import rows
from bench.operations import OPERATIONS, SHAPES

# The GraphQL types whose objects are rows, and their row classes.
ROW_TYPES = {
    "User": rows.UserRow,
    "Contact": rows.ContactRow,
    "ContactType": rows.ContactTypeRow,
    "Group": rows.GroupRow,
    "Membership": rows.MembershipRow,
    "Session": rows.SessionRow,
}


def projections(query: str, variables: dict[str, object] | None = None) -> dict[str, set[str]]:
    found = PlannedExecution(schema).plan_for(query, parse(query), None, variables)
    assert found is not None, "no plan"
    return {loader: set(columns) for loader, columns in found[0].projections.items()}


def an_id(type_name: str) -> str:
    return encode_id(type_name, uuid.uuid4())


@pytest.mark.parametrize("type_name", ROW_TYPES)
def test_every_field_of_a_row_says_what_it_reads(type_name: str) -> None:
    """So that no plan leaves a loader whole for want of a declaration, and each
    declared column is a field of the row."""
    columns = {field.name for field in dataclasses.fields(ROW_TYPES[type_name])}
    graphql_type = adapter.graphql_schema(schema).get_type(type_name)
    for name in graphql_type.fields:  # type: ignore[union-attr]
        facts = adapter.field_facts(schema, type_name, name)
        assert facts is not None
        source = facts.metadata.get(FIELD_SOURCE)
        if isinstance(source, DataSource):
            used = source.read.uses
        elif isinstance(source, RowSource):
            used = source.columns
        else:
            used = frozenset({facts.python_name})
        assert used is not None, f"{type_name}.{name} does not say what it reads"
        assert set(used) <= columns, f"{type_name}.{name}"


def test_q3_asks_for_the_members_fields_and_the_groups() -> None:
    assert projections(OPERATIONS["Q3"], {"id": an_id("Group")}) == {
        "group": {"id", "slug", "name"},
        "user": {"id", "username", "display_name"},
    }


def test_q1_asks_for_what_each_level_selects_with_keys_and_followers() -> None:
    """Contacts: their fields, their user (the key), their type's id (followed)
    and the code reads filter by; memberships need every column (whole)."""
    contact = {"id", "user_id", "value", "is_primary", "contact_type_id", "type_code"}
    assert projections(OPERATIONS["Q1"], {"id": an_id("User")}) == {
        "user": {"id", "username", "display_name"},
        "contacts": contact,
        "all_contacts": contact,
        "contact_type": {"id", "code"},
        "group": {"id", "slug", "name"},
    }


def test_what_node_returns_is_read_for_its_types_fragments() -> None:
    """node(s) look loaders up by the id's type: each is asked for what the
    fragments on its own type use (and a contact for its user, which decides
    whether the viewer may see it)."""
    assert projections(SHAPES["nodes"], {"ids": [an_id("User")]}) == {
        "user": {"id", "username"},
        "group": {"id", "slug"},
        "contact": {"id", "user_id", "contact_type_id", "value"},
        "contact_type": {"id", "code"},
    }
    query = "query($id: ID!) { node(id: $id) { ... on User { username contacts { value } } } }"
    found = projections(query, {"id": an_id("User")})
    assert found["user"] == {"id", "username"}
    assert found["group"] == {"id"}  # another type's id: no field of it is selected


def test_rows_a_read_asks_for_its_own_use_are_read_whole() -> None:
    """A user's groups read its memberships to page them (a key outside its rows);
    its sessions are not declared as rows at all. The groups themselves, under
    the page's edges, are asked for what the fields on them use."""
    query = """query($id: ID!) { user(id: $id) {
      username sessions { id current }
      groups { edges { cursor node { slug } } }
    } }"""
    assert projections(query, {"id": an_id("User")}) == {
        "user": {"username", "id"},
        "group": {"id", "slug"},
    }


def test_a_root_page_holds_what_its_cursors_and_the_loader_it_primes_need() -> None:
    """A users page: its fields, its cursors' columns, and what the user loader it
    primes is asked for elsewhere in the plan (a membership's user)."""
    query = """{ users(first: 5, orderBy: USERNAME_ASC) {
      pageInfo { endCursor } edges { cursor node { displayName
        memberships { user { status } } } }
    } }"""
    found = projections(query)
    assert found["users_page"] == {"id", "created_at", "username", "display_name", "status"}
    assert found["user"] == {"id", "status"}


def test_one_loader_under_two_fields_asks_for_both_fields_columns() -> None:
    query = """query($id: ID!) { user(id: $id) {
      username
      memberships { group { slug } user { displayName status } }
    } }"""
    found = projections(query, {"id": an_id("User")})
    assert found["user"] == {"id", "username", "display_name", "status"}
    assert found["group"] == {"id", "slug"}


def test_a_plan_sends_its_calls_in_the_same_order_in_every_process() -> None:
    """The order of a plan's followers is the order of the calls in its statement:
    it must not follow the hash seed, or each shape would have a statement text
    per process (pg_stat_statements, prepared statements)."""
    script = (
        "from graphql import parse\n"
        "from accounts_gql.api.engine.executor import PlannedExecution\n"
        "from accounts_gql.api.schema import schema\n"
        "from bench.operations import OPERATIONS, SHAPES\n"
        "import uuid; from accounts_gql.api.ids import encode_id\n"
        "for query in [*OPERATIONS.values(), *SHAPES.values()]:\n"
        "    ids = {'id': encode_id('User', uuid.UUID(int=1)), 'ids': [], 'search': 'a'}\n"
        "    found = PlannedExecution(schema).plan_for(query, parse(query), None, ids)\n"
        "    print(found[0].follows if found else None)\n"
    )
    orders = {
        subprocess.run(
            [sys.executable, "-c", script],
            env=os.environ | {"PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2", "3", "4")
    }
    assert len(orders) == 1
    assert "user" in orders.pop()
