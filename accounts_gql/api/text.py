"""Text PostgreSQL cannot store: the NUL character (U+0000).

`text` and `jsonb` refuse U+0000, so a string holding it would fail in the
database as an unexpected error. Requests are refused up front instead: a string
literal in the document fails validation (cached with the document), a string in
the variables (at any depth, keys of JSON objects included) fails before execution.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError, StringValueNode, ValidationRule

NUL = "\x00"
CODE = "INVALID_TEXT"
MESSAGE = "Text must not contain the NUL character (U+0000)."


def nul_error(nodes: list[StringValueNode] | None = None) -> GraphQLError:
    return GraphQLError(MESSAGE, nodes=nodes, extensions={"code": CODE})


class NoNulInStringsRule(ValidationRule):
    """Refuses string literals (arguments, defaults) that hold U+0000."""

    def enter_string_value(self, node: StringValueNode, *_args: Any) -> None:
        if NUL in node.value:
            self.report_error(nul_error([node]))


def _holds_nul(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if NUL in item:
                return True
        elif isinstance(item, dict):
            for key, nested in item.items():
                if isinstance(key, str) and NUL in key:
                    return True
                stack.append(nested)
        elif isinstance(item, list):
            stack.extend(item)
    return False


def variables_nul_errors(variables: dict[str, Any] | None) -> list[GraphQLError]:
    """One error when a variable's value holds U+0000 anywhere, else none."""
    if variables and _holds_nul(variables):
        return [nul_error()]
    return []
