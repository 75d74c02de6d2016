"""Forgetting and replacing what a request's dataloaders hold, after a write."""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from strawberry.dataloader import DataLoader


def forget(loader: DataLoader[Any, Any], key: Any) -> None:
    """Drops a key, if the loader has it (strawberry's clear raises otherwise)."""
    with suppress(KeyError):
        loader.clear(key)


def replace(loader: DataLoader[Any, Any], key: Any, value: Any) -> None:
    forget(loader, key)
    loader.prime(key, value)
