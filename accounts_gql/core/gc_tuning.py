"""Garbage-collector settings for a request-serving process (PRODUCT §8).

A GraphQL request allocates many short-lived objects and almost no cycles. With
CPython's defaults (a young collection every 700 net allocations) the collector
runs thousands of times a second under load and its older generations keep
re-scanning everything the process built at start-up. So: freeze what start-up
allocated (it is never garbage), and collect the young generation less often.

The price: full collections become rare, so whatever lives long and then dies
in a reference cycle stays until one runs. Long-lived objects therefore must not
be cyclic: the cached documents were (the parser's doubly linked tokens), and
grew memory with every distinct document until `api/engine/documents.py` unlinked them
(docs/operations.md, "Memory"; `bench/memory.py` measures it).
"""

from __future__ import annotations

import gc

from loguru import logger

# Young generation every 50,000 net allocations; older ones as usual relative to it.
THRESHOLDS = (50_000, 20, 100)


def tune_for_serving() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    logger.debug("gc tuned: {} objects frozen, thresholds {}", gc.get_freeze_count(), THRESHOLDS)
