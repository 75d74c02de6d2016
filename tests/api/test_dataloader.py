"""The request's loader: one batch per round of the event loop, one fetch per key."""

from __future__ import annotations

import asyncio

import pytest

from accounts_gql.core.dataloader import Batching, Loader


class Source:
    """A batch function that records the batches it is asked for."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    async def __call__(self, keys: list[int]) -> list[str]:
        self.batches.append(keys)
        await asyncio.sleep(0)
        return [f"v{key}" for key in keys]


async def test_keys_asked_for_together_are_one_batch_and_each_key_is_fetched_once() -> None:
    source = Source()
    loader = Loader(source)
    many = loader.load_many([1, 2, 1])
    one = loader.load(3)
    assert await many == ["v1", "v2", "v1"]
    assert await one == "v3"
    assert await loader.load_many([2, 3, 4]) == ["v2", "v3", "v4"]
    assert source.batches == [[1, 2, 3], [4]]


async def test_loads_from_tasks_started_together_share_a_batch() -> None:
    source = Source()
    loader = Loader(source)

    async def ask(key: int) -> str:
        return await loader.load(key)

    assert await asyncio.gather(*(ask(key) for key in range(5))) == [f"v{k}" for k in range(5)]
    assert source.batches == [[0, 1, 2, 3, 4]]


async def test_prime_answers_without_a_fetch_and_clear_forgets() -> None:
    source = Source()
    loader = Loader(source)
    loader.prime(1, "primed")
    pending = loader.load(2)
    loader.prime(2, "primed too")  # answers the key still waiting for dispatch
    assert await loader.load_many([1, 2]) == ["primed", "primed too"]
    assert await pending == "primed too"
    assert source.batches == []
    loader.prime(1, "ignored")  # a cached key keeps its value
    assert await loader.load(1) == "primed"
    loader.clear(1)
    loader.clear(99)  # an unknown key is no error
    assert await loader.load(1) == "v1"
    assert source.batches == [[1]]


async def test_prime_many_is_prime_of_each_key() -> None:
    source = Source()
    loader = Loader(source)
    loader.prime_many([1, 2], ["one", "two"])  # keys nobody asked for
    assert await loader.load_many([1, 2]) == ["one", "two"]
    pending = loader.load(3)
    loader.prime_many([2, 3, 4], ["ignored", "three", "four"])  # cached, pending, new
    assert await pending == "three"
    assert await loader.load_many([2, 3, 4]) == ["two", "three", "four"]
    assert source.batches == []
    with pytest.raises(ValueError, match="shorter"):
        loader.prime_many([5, 6], ["five"])


async def test_a_failing_batch_fails_each_of_its_keys() -> None:
    async def broken(keys: list[int]) -> list[str]:
        raise RuntimeError("database gone")

    loader = Loader(broken)
    with pytest.raises(RuntimeError, match="database gone"):
        await loader.load_many([1, 2])
    with pytest.raises(RuntimeError, match="database gone"):
        await loader.load(2)


async def test_a_batch_function_must_answer_every_key() -> None:
    async def short(keys: list[int]) -> list[str]:
        return ["only one"]

    loader = Loader(short)
    with pytest.raises(ValueError, match="2 keys but 1 values"):
        await loader.load_many([1, 2])


async def test_a_key_cleared_in_flight_answers_its_waiters_and_is_fetched_again() -> None:
    source = Source()
    loader = Loader(source)
    waiting = loader.load_many([1, 2])
    single = loader.load(1)
    await asyncio.sleep(0)
    await asyncio.sleep(0)  # dispatched: the batch is in flight
    loader.clear(1)
    loader.prime(2, "too late")  # a key in flight keeps what the fetch answers
    assert await waiting == ["v1", "v2"]
    assert await single == "v1"
    assert await loader.load_many([1, 2]) == ["v1", "v2"]
    assert source.batches == [[1, 2], [1]]


async def test_no_keys_is_no_batch_and_new_keys_join_the_pending_batch() -> None:
    source = Source()
    loader = Loader(source)
    assert await loader.load_many([]) == []
    first = loader.load_many([1, 2])
    second = loader.load_many([3, 1])  # one key pending already, one new
    third = loader.load_many([4, 5])  # all new, joins the same batch
    assert await third == ["v4", "v5"]
    assert await first == ["v1", "v2"]
    assert await second == ["v3", "v1"]
    assert source.batches == [[1, 2, 3, 4, 5]]


async def test_a_cancelled_waiter_leaves_the_batch_to_the_others() -> None:
    source = Source()
    loader = Loader(source)
    cancelled = asyncio.ensure_future(loader.load_many([1, 2]))
    other = loader.load(2)
    await asyncio.sleep(0)
    cancelled.cancel()  # as graphql-core cancels the rest of a failed list
    assert await other == "v2"
    assert await loader.load_many([1]) == ["v1"]
    assert source.batches == [[1, 2]]


async def test_dispatch_pending_fetches_the_batch_in_the_callers_task() -> None:
    source = Source()
    loader = Loader(source)
    many = loader.load_many([1, 2])
    one = loader.load(3)
    await loader.dispatch_pending()
    assert source.batches == [[1, 2, 3]]
    await asyncio.sleep(0)  # the dispatch scheduled at the first load finds nothing
    await asyncio.sleep(0)
    assert await many == ["v1", "v2"]
    assert await one == "v3"
    await loader.dispatch_pending()  # nothing pending: no call
    later = loader.load(4)
    assert await later == "v4"
    assert source.batches == [[1, 2, 3], [4]]


async def test_a_batch_scheduled_and_then_dispatched_inline_is_fetched_once() -> None:
    source = Source()
    loader = Loader(source)
    pending = loader.load(1)
    await asyncio.sleep(0)  # the dispatch task is made, not yet run
    await loader.dispatch_pending()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert await pending == "v1"
    assert source.batches == [[1]]


async def test_collected_batches_are_fetched_by_dispatch_alone() -> None:
    batching = Batching()
    users, groups = Source(), Source()
    user_loader, group_loader = Loader(users, batching), Loader(groups, batching)
    batching.collect()
    many = user_loader.load_many([1, 2])
    one = group_loader.load(7)
    three = user_loader.load(3)
    for _ in range(3):
        await asyncio.sleep(0)
    assert users.batches == [], "no task fetched them"
    assert groups.batches == []
    await batching.dispatch()
    assert users.batches == [[1, 2, 3]]
    assert groups.batches == [[7]]
    assert await many == ["v1", "v2"]
    assert await one == "v7"
    assert await three == "v3"
    # Collecting ended with the dispatch: a later load is scheduled as usual.
    assert await user_loader.load(4) == "v4"
    assert users.batches == [[1, 2, 3], [4]]


async def test_collected_batches_handed_back_are_fetched_by_their_own_tasks() -> None:
    batching = Batching()
    source = Source()
    loader = Loader(source, batching)
    batching.collect()
    pending = loader.load_many([1, 2])
    batching.schedule()  # the collector will not dispatch (it failed, say)
    assert await pending == ["v1", "v2"]
    assert source.batches == [[1, 2]]
