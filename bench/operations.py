"""The three operations of the bench (PRODUCT §8) and how to pick their arguments."""

from __future__ import annotations

Q1 = """query Q1($id: ID!) {
  user(id: $id) {
    id username displayName
    contacts { id value isPrimary type { code } }
    memberships { role joinedAt group { id slug name } }
  }
}"""

Q2 = """query Q2 {
  users(first: 50) {
    edges { node {
      id username displayName
      contacts { id value isPrimary type { code } }
      memberships { role joinedAt group { id slug name } }
    } }
  }
}"""

Q3 = """query Q3($id: ID!) {
  group(id: $id) {
    id slug name memberCount
    members(first: 100) { edges { cursor node { role joinedAt user { id username displayName } } } }
  }
}"""

OPERATIONS = {"Q1": Q1, "Q2": Q2, "Q3": Q3}

# Other shapes (issue 16: gains must hold beyond the three), for bench/cpu.py: a
# filtered user list with contacts, nodes of mixed types, a user's groups with
# their members and the members' contacts, and a page of groups with their
# member counts.
FILTERED = """query F($search: String) {
  users(first: 20, filter: {search: $search, status: ACTIVE}) {
    edges { node { id username contacts { value type { code } } } }
  }
}"""

NODES = """query N($ids: [ID!]!) {
  nodes(ids: $ids) {
    id
    ... on User { username }
    ... on Group { slug memberCount }
    ... on Contact { value }
    ... on ContactType { code }
  }
}"""

GROUPS_OF_USER = """query G($id: ID!) {
  user(id: $id) {
    username
    groups { edges { node { slug members(first: 10) {
      edges { node { role user { username contacts { value } } } }
    } } } }
  }
}"""

# A page of groups with their member counts (sql/0021 keeps them).
COUNTED_GROUPS = """query C {
  groups(first: 20) { edges { node { slug name memberCount } } }
}"""

SHAPES = {
    "filtered": FILTERED,
    "nodes": NODES,
    "groups": GROUPS_OF_USER,
    "counted": COUNTED_GROUPS,
}
