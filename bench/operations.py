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
