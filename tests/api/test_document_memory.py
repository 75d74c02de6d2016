"""A document the cache drops is freed at once, by reference counting: no
reference cycle of it waits for a full garbage collection (which the raised
thresholds of core/gc_tuning.py make rare). bench/memory.py measures the RSS."""

from __future__ import annotations

import gc
from collections import Counter

from accounts_gql.api.engine.documents import DocumentCache
from accounts_gql.api.engine.executor import PlannedExecution
from accounts_gql.api.engine.limits import Limits
from accounts_gql.api.schema import schema


def _fill(documents: DocumentCache, planned: PlannedExecution, names: range) -> None:
    for n in names:
        source = f"query D{n} {{ contactTypes {{ code name }} }} # {n}"
        prepared = documents.get(source)
        assert prepared.document is not None
        assert planned.plans.template(source, prepared.document, None) is not None


def test_evicted_documents_and_their_plans_leave_no_cycles() -> None:
    documents = DocumentCache(schema._schema, Limits(12, 30, 20000), max_size=10)
    planned = PlannedExecution(schema, max_size=10)
    _fill(documents, planned, range(10))
    gc.collect()  # what validating them left behind (visitors) refers to them no more
    gc.disable()
    try:
        _fill(documents, planned, range(10, 20))  # evicts the first ten
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        left = Counter(type(o).__name__ for o in gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    # Validation leaves short-lived cycles of its own; none holds a document.
    for kind in ("Token", "Location", "DocumentNode", "OperationDefinitionNode", "FieldNode"):
        assert left[kind] == 0, (kind, left[kind])


def test_errors_still_locate_after_the_tokens_are_unlinked() -> None:
    documents = DocumentCache(schema._schema, Limits(12, 30, 20000))
    prepared = documents.get("{\n  contactTypes { nope }\n}")
    assert prepared.errors[0].formatted["locations"] == [{"line": 2, "column": 18}]
