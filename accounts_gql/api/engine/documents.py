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
    NoSchemaIntrospectionCustomRule,
    OperationDefinitionNode,
    OperationType,
    parse,
    specified_rules,
    validate,
)

from accounts_gql.api.engine.limits import Limits, limit_error, static_errors
from accounts_gql.api.text import NoNulInStringsRule


@dataclass(frozen=True, slots=True)
class PreparedDocument:
    """A document that parsed and validated, or the errors that stopped it."""

    document: DocumentNode | None
    errors: tuple[GraphQLError, ...]
    # Operation name (None for an anonymous single operation) -> its type.
    operation_types: dict[str | None, OperationType]
    # Whether a connection's page size is a variable, so cost is priced per request.
    variable_sized: bool = False

    @property
    def parse_failed(self) -> bool:
        return self.document is None

    def operation_type(self, operation_name: str | None) -> OperationType | None:
        if operation_name is None and len(self.operation_types) == 1:
            return next(iter(self.operation_types.values()))
        return self.operation_types.get(operation_name)


def unlink_tokens(document: DocumentNode) -> None:
    """Breaks the parser's chain of tokens, keeping every node's location.

    The lexer links each token to the one before and after it, so a parsed
    document holds a chain of reference cycles as long as its text. A cached
    document lives long enough to reach the oldest GC generation; evicted, its
    cycles then wait for a full collection, which the raised thresholds of
    core/gc_tuning.py make rare: memory grew with every distinct document.
    Unlinked, an evicted document (and the plan built on it) is freed by
    reference counting the moment the caches drop it. Locations keep their
    start, end and source, all that error messages read; tokens no node starts
    or ends with are freed at once.
    """
    token = document.loc.start_token if document.loc is not None else None
    while token is not None:
        following = token.next
        token.prev = token.next = None
        token = following


class DocumentCache:
    def __init__(
        self,
        schema: GraphQLSchema,
        limits: Limits,
        *,
        max_size: int = 1000,
        max_tokens: int | None = None,
        introspection: bool = True,
    ) -> None:
        self.schema = schema
        self.limits = limits
        self.max_size = max_size
        self.max_tokens = max_tokens
        self.introspection = introspection
        self.rules = [*specified_rules, NoNulInStringsRule]
        if not introspection:
            self.rules.append(NoSchemaIntrospectionCustomRule)
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

    def _token_limit_error(self, error: GraphQLError) -> GraphQLError | None:
        """The parser's "more than N tokens" syntax error as the limit's own error."""
        if self.max_tokens is None or not error.message.endswith("tokens. Parsing aborted."):
            return None
        return limit_error(
            f"The document has more than {self.max_tokens} tokens;"
            f" at most {self.max_tokens} allowed.",
            "TOO_MANY_TOKENS",
            limit=self.max_tokens,
        )

    def _prepare(self, source: str) -> PreparedDocument:
        try:
            document = parse(source, max_tokens=self.max_tokens)
        except GraphQLError as error:
            return PreparedDocument(None, (self._token_limit_error(error) or error,), {})
        unlink_tokens(document)
        # Without introspection, "did you mean …?" hints would reveal the schema too.
        errors = validate(
            self.schema, document, self.rules, hide_suggestions=not self.introspection
        )
        variable_sized = False
        if not errors:
            errors, variable_sized = static_errors(document, self.limits)
        operation_types = {
            (definition.name.value if definition.name else None): definition.operation
            for definition in document.definitions
            if isinstance(definition, OperationDefinitionNode)
        }
        return PreparedDocument(document, tuple(errors), operation_types, variable_sized)
