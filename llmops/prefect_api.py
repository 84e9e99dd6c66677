"""Prefect's API with the stack's credentials: a client, and settings for a process that imported Prefect already.

Apart from `llmops.clients` because the plain code (tasks/, infra/) may not import Prefect.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from llmops.settings import Settings

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient


def prefect_context(settings: Settings) -> AbstractContextManager[Any]:
    """Point this process's Prefect (flows run in-process, `get_client`) at the stack, with its credentials.

    Prefect reads its environment once, at import: for a process that imported it before the stack
    was known (a test session, a notebook), this is how to point it at the stack.
    """
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_KEY, PREFECT_API_URL, temporary_settings

    p = settings.prefect
    updates: dict[Any, Any] = {PREFECT_API_URL: p.api_url}
    if p.auth_string is not None:
        updates[PREFECT_API_AUTH_STRING] = p.auth_string.get_secret_value()
    if p.api_key is not None:
        updates[PREFECT_API_KEY] = p.api_key.get_secret_value()
    return temporary_settings(updates=updates)


def prefect_client(settings: Settings) -> SyncPrefectClient:
    """A synchronous Prefect API client with the stack's credentials (use it as a context manager)."""
    from prefect.client.orchestration import SyncPrefectClient

    p = settings.prefect
    return SyncPrefectClient(
        p.api_url,
        auth_string=p.auth_string.get_secret_value() if p.auth_string else None,
        api_key=p.api_key.get_secret_value() if p.api_key else None,
    )
