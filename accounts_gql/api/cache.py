"""Forgetting and replacing what a request's dataloaders hold, after a write."""

from __future__ import annotations

from typing import Any

from accounts_gql.core.dataloader import Loader


def replace(loader: Loader[Any, Any], key: Any, value: Any) -> None:
    loader.clear(key)
    loader.prime(key, value)
