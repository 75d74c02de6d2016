"""The read side of the services layer: the field contract (contract.py), a reads
module per entity, the per-request loaders and paging.

Importing this package registers every read (`contract.READS`)."""

from accounts_gql.services.reads import auth, contacts, groups, memberships, nodes, users

__all__ = ["auth", "contacts", "groups", "memberships", "nodes", "users"]
