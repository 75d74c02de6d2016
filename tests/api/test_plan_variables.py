"""Plans coerce ID and String variables themselves: exactly as graphql-core does, or not at all."""

from __future__ import annotations

from typing import Any

from graphql import parse
from graphql.execution.values import get_variable_values
from hypothesis import given
from hypothesis import strategies as st

from accounts_gql.api.engine.plans import PlanCache
from accounts_gql.api.schema import schema

TYPES = ["ID!", "ID", "String!", "String"]
ABSENT = object()
values = st.one_of(
    st.just(ABSENT),
    st.none(),
    st.text(max_size=5),
    st.integers(),
    st.booleans(),
    st.floats(allow_nan=False),
    st.lists(st.text(max_size=2), max_size=2),
)


@given(st.lists(st.tuples(st.sampled_from(TYPES), values), min_size=1, max_size=3))
def test_text_variables_are_coerced_as_graphql_core_does(
    variables: list[tuple[str, Any]],
) -> None:
    definitions = ", ".join(f"$v{i}: {kind}" for i, (kind, _) in enumerate(variables))
    uses = " ".join(f"a{i}: user(username: $v{i}) {{ id }}" for i in range(len(variables)))
    source = f"query Q({definitions}) {{ {uses} }}"
    document = parse(source)
    template = PlanCache(schema).template(source, document, None)
    assert template is not None
    assert template.text_variables is not None
    inputs = {f"v{i}": value for i, (_, value) in enumerate(variables) if value is not ABSENT}

    fast = template.coerce_text_variables(inputs)
    standard = get_variable_values(
        schema._schema, template.operation.variable_definitions or (), inputs
    )
    if fast is None:  # left to graphql-core: anything but strings (and nulls where allowed)
        return
    assert not isinstance(standard, list), standard
    assert fast.coerced == standard.coerced
    assert _sources(fast.sources) == _sources(standard.sources)


def _sources(sources: dict[str, Any]) -> list[tuple[Any, ...]]:
    # Signatures hold a fresh GraphQLNonNull per coercion: compared by what they say.
    return [
        (name, s.signature.name, str(s.signature.type), s.signature.default, s.value)
        for name, s in sources.items()
    ]


def test_other_variables_are_left_to_graphql_core() -> None:
    for definitions in ("$v: Int", '$v: ID = "x"', "$v: [ID!]"):
        source = f"query Q({definitions}) {{ __typename }}"
        template = PlanCache(schema).template(source, parse(source), None)
        assert template is not None
        assert template.text_variables is None
        assert template.coerce_text_variables({"v": "x"}) is None
