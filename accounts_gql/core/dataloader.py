"""A request's batching, caching loader: the DataLoader pattern, kept lean.

Keys asked for while the event loop runs one round of callbacks are fetched by
one call of the batch function; each key's value stays cached for the request,
so a key is fetched once however many fields ask for it. It does what
Strawberry's `DataLoader` does for us with a fraction of the work per key: no
future, task or callback per key, one future per batch; pages of a hundred rows
ask for hundreds of keys per request (PRODUCT §8).

Dispatch waits two rounds of the loop, as Strawberry's does, so that resolvers
graphql-core starts as tasks in one round still join the batch. A caller that
knows when every key of a round has been asked for (an execution plan's level)
collects the new batches instead and fetches them itself (`Batching`): no task,
no callback and no future for a batch nobody had to wait for, and, given a
`together` function, the batches of every loader in one go (one statement for a
level's batch reads, services/reads/loaders.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Generator, Hashable, Iterable, Sequence
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

BatchFunction = Callable[[list[K]], Awaitable[Sequence[V]]]
# Fetches the batches of several loaders at once: their values, or what failed.
Together = Callable[
    [list[tuple["Loader[Any, Any]", list[Any]]]], Awaitable[list[Sequence[Any] | Exception]]
]


class Batch(Generic[K, V]):
    """Keys fetched by one call of the batch function, and what it answered."""

    __slots__ = ("cleared", "done", "error", "keys", "values")

    def __init__(self) -> None:
        self.keys: dict[K, None] = {}  # ordered, without repeats
        self.done: asyncio.Future[None] | None = None  # made for the first waiter
        self.values: dict[K, V] | None = None
        self.error: BaseException | None = None
        self.cleared: list[K] = []  # keys forgotten before the answer came: not cached

    @property
    def answered(self) -> bool:
        return self.values is not None or self.error is not None

    async def wait(self) -> None:
        if self.done is None:
            self.done = asyncio.get_running_loop().create_future()
        # Shielded: a waiter cancelled (graphql-core cancels the rest of a list
        # once an item fails) must not cancel the batch for the others.
        await asyncio.shield(self.done)


class Batching:
    """How the loaders of one request dispatch their batches.

    By default each new batch is fetched in a task of its own, two rounds of the
    loop later. Between `collect()` and `dispatch()` new batches are kept for the
    caller instead, who fetches them in its own task: all at once by `together`
    when given, else one after the other.
    """

    __slots__ = ("_collected", "_collecting", "_together")

    def __init__(self, together: Together | None = None) -> None:
        self._collecting = False
        self._collected: list[Loader[Any, Any]] = []
        self._together = together

    def collect(self) -> None:
        self._collecting = True

    def add(self, loader: Loader[Any, Any]) -> bool:
        """Keeps the loader's new batch for `dispatch`; False when not collecting."""
        if self._collecting:
            self._collected.append(loader)
        return self._collecting

    async def dispatch(self) -> None:
        """Fetches the batches collected since `collect()`, and collects no more."""
        self._collecting = False
        collected, self._collected = self._collected, []
        if self._together is None or len(collected) < 2:
            for loader in collected:
                await loader.dispatch_pending()
            return
        taken = [(loader, batch) for loader in collected if (batch := loader.take_pending())]
        for loader, batch in taken:
            if not batch.keys:  # every key was primed meanwhile
                loader.answer(batch, [])
        taken = [(loader, batch) for loader, batch in taken if batch.keys]
        wanted = [(loader, list(batch.keys)) for loader, batch in taken]
        answers: list[Sequence[Any] | Exception]
        try:
            answers = await self._together(wanted)
        except Exception as error:
            answers = [error] * len(taken)
        for (loader, batch), answer in zip(taken, answers, strict=True):
            loader.answer(batch, answer)

    def schedule(self) -> None:
        """Stops collecting and leaves the collected batches to their own tasks,
        as if never collected (for a caller that will not dispatch them)."""
        self._collecting = False
        collected, self._collected = self._collected, []
        for loader in collected:
            loader.schedule_pending()


class Loader(Generic[K, V]):
    """`source`: what its batches are read from, for the `together` function of its
    batching (opaque here)."""

    def __init__(
        self,
        batch_function: BatchFunction[K, V],
        batching: Batching | None = None,
        source: Any = None,
    ) -> None:
        self._batch_function = batch_function
        self._batching = batching
        self.source = source
        self._values: dict[K, V] = {}
        # The batch of each key asked for: waiting for dispatch, in flight, failed
        # (or answered: `_values` is looked at first).
        self._batches: dict[K, Batch[K, V]] = {}
        self._pending: Batch[K, V] | None = None  # the batch the next dispatch sends
        self._loop: asyncio.AbstractEventLoop | None = None

    def load(self, key: K) -> Awaitable[V]:
        if key in self._values:
            return _Ready(self._values[key])
        batch = self._batches.get(key) or self._enqueue(key)
        return self._one(key, batch)

    def load_many(self, keys: Iterable[K]) -> Awaitable[list[V]]:
        """The values of `keys`, in order; the keys are asked for before it returns."""
        keys = list(keys)
        if not keys:
            return _Ready([])
        values, batches = self._values, self._batches
        if values.keys().isdisjoint(keys) and batches.keys().isdisjoint(keys):
            # Keys never asked for (the common case: a level's rows): set-wise, in C.
            batch = self._pending or self._new_batch()
            fresh = dict.fromkeys(keys)
            batch.keys.update(fresh)
            batches.update(dict.fromkeys(fresh, batch))
            return self._many(keys, [batch])
        waits: list[Batch[K, V]] = []
        for key in keys:
            if key in values:
                continue
            batch = batches.get(key) or self._enqueue(key)
            if not waits or waits[-1] is not batch:
                waits.append(batch)
        if not waits:
            return _Ready([values[key] for key in keys])
        return self._many(keys, waits)

    def prime(self, key: K, value: V) -> None:
        """Caches `value` unless the key is cached or in flight; answers it if pending."""
        if key in self._values:
            return
        batch = self._batches.get(key)
        if batch is not None:
            if batch is not self._pending:
                return
            del batch.keys[key]
            del self._batches[key]
        self._values[key] = value

    def prime_many(self, keys: Sequence[K], values: Sequence[V]) -> None:
        """`prime` of each key with its value (the keys distinct, as a fetch's are)."""
        if self._values.keys().isdisjoint(keys) and self._batches.keys().isdisjoint(keys):
            # Keys nobody has asked for (the common case: a follower's rows): in C.
            self._values.update(zip(keys, values, strict=True))
            return
        for key, value in zip(keys, values, strict=True):
            self.prime(key, value)

    def clear(self, key: K) -> None:
        self._values.pop(key, None)
        batch = self._batches.pop(key, None)
        if batch is not None and not batch.answered:
            batch.cleared.append(key)  # its waiters get the value; later loads fetch again

    def clear_all(self) -> None:
        self._values.clear()
        self._batches.clear()

    def _enqueue(self, key: K) -> Batch[K, V]:
        batch = self._pending or self._new_batch()
        batch.keys[key] = None
        self._batches[key] = batch
        return batch

    def _new_batch(self) -> Batch[K, V]:
        batch = self._pending = Batch()
        if self._batching is None or not self._batching.add(self):
            self.schedule_pending()
        return batch

    def schedule_pending(self) -> None:
        """Fetches the pending batch in a task of its own, two rounds of the loop on."""
        if self._pending is None:
            return
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        self._loop.call_soon(self._schedule, self._pending)

    def _schedule(self, batch: Batch[K, V]) -> None:
        if self._pending is batch:  # not dispatched meanwhile by `dispatch_pending`
            assert self._loop is not None
            self._loop.create_task(self._dispatch(batch))

    async def dispatch_pending(self) -> None:
        """Fetches the pending batch now, in the caller's task, instead of in a
        task of its own two rounds of the loop later: for a caller that knows
        every key of the batch has been asked for (an execution plan's level)."""
        if self._pending is not None:
            await self._dispatch(self._pending)

    async def _dispatch(self, batch: Batch[K, V]) -> None:
        if self._pending is not batch:
            return  # fetched already, by whichever of the two came first
        self._pending = None
        keys = list(batch.keys)
        answer: Sequence[V] | Exception
        try:
            answer = await self._batch_function(keys) if keys else []
        except Exception as error:
            answer = error
        self.answer(batch, answer)

    def take_pending(self) -> Batch[K, V] | None:
        """The pending batch, for a caller that fetches it and gives `answer`."""
        batch, self._pending = self._pending, None
        return batch

    def answer(self, batch: Batch[K, V], answer: Sequence[V] | Exception) -> None:
        """Answers a batch: each key's value, in the batch's order, or an error."""
        keys = list(batch.keys)
        if isinstance(answer, Exception):
            batch.error = answer
        elif len(answer) != len(keys):
            batch.error = ValueError(f"{len(keys)} keys but {len(answer)} values")
        else:
            batch.values = dict(zip(keys, answer, strict=True))
            self._values.update(batch.values)
            for key in batch.cleared:
                self._values.pop(key, None)
        if batch.done is not None:
            batch.done.set_result(None)

    async def _one(self, key: K, batch: Batch[K, V]) -> V:
        if not batch.answered:
            await batch.wait()
        return self._lookup(key, [batch])

    async def _many(self, keys: list[K], waits: list[Batch[K, V]]) -> list[V]:
        for batch in waits:
            if not batch.answered:
                await batch.wait()
        try:
            return list(map(self._values.__getitem__, keys))
        except KeyError:  # a failed batch, or a key cleared while in flight
            return [self._lookup(key, waits) for key in keys]

    def _lookup(self, key: K, waits: list[Batch[K, V]]) -> V:
        """A key's value from the batches it was asked from (or primed meanwhile)."""
        for batch in waits:
            if batch.error is not None and key in batch.keys:
                raise batch.error
            if batch.values is not None and key in batch.values:
                return batch.values[key]
        return self._values[key]


class _Ready(Generic[V]):
    """An awaitable of a value at hand: no future, no event loop round."""

    __slots__ = ("value",)

    def __init__(self, value: V) -> None:
        self.value = value

    def __await__(self) -> Generator[Any, None, V]:
        return self.value
        yield  # a generator, though it never suspends
