"""Parsed and validated documents, cached by their text (PRODUCT §8).

Parsing and validating cost more than executing a small query, so each distinct
document pays them once per process. The cache is bounded so that a stream of
distinct documents cannot grow memory without limit.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    parse,
    validate,
)


@dataclass(frozen=True, slots=True)
class PreparedDocument:
    """A document that parsed and validated, or the errors that stopped it."""

    document: DocumentNode | None
    errors: tuple[GraphQLError, ...]
    # Operation name (None for an anonymous single operation) -> its type.
    operation_types: dict[str | None, OperationType]

    @property
    def parse_failed(self) -> bool:
        return self.document is None

    def operation_type(self, operation_name: str | None) -> OperationType | None:
        if operation_name is None and len(self.operation_types) == 1:
            return next(iter(self.operation_types.values()))
        return self.operation_types.get(operation_name)


class DocumentCache:
    def __init__(self, schema: GraphQLSchema, max_size: int = 1000) -> None:
        self.schema = schema
        self.max_size = max_size
        self._entries: OrderedDict[str, PreparedDocument] = OrderedDict()

    def get(self, source: str) -> PreparedDocument:
        entry = self._entries.get(source)
        if entry is not None:
            self._entries.move_to_end(source)
            return entry
        entry = self._prepare(source)
        self._entries[source] = entry
        if len(self._entries) > self.max_size:
            self._entries.popitem(last=False)
        return entry

    def _prepare(self, source: str) -> PreparedDocument:
        try:
            document = parse(source)
        except GraphQLError as error:
            return PreparedDocument(None, (error,), {})
        errors = validate(self.schema, document)
        operation_types = {
            (definition.name.value if definition.name else None): definition.operation
            for definition in document.definitions
            if isinstance(definition, OperationDefinitionNode)
        }
        return PreparedDocument(document, tuple(errors), operation_types)
