"""Secrets written ``prefect-secret:NAME`` in the config, read from Prefect Secret blocks when used.

Operators who keep credentials in Prefect (the UI's Blocks page) need not put
them in files or environment variables. Resolution happens at use time, inside
the flow run, so a rotated secret is picked up by the next run; the value only
ever lives in a ``SecretStr``, and errors name the block, never its content.
"""

from __future__ import annotations

from typing import Any, TypeVar

from prefect.blocks.system import Secret
from pydantic import BaseModel, SecretStr

from alertflow.errors import ConfigError

PREFIX = "prefect-secret:"
T = TypeVar("T")


async def resolve_secrets(value: T) -> T:
    """A copy of ``value`` (a settings model, or a dict/list of them) with Prefect secrets filled in."""
    return await _resolve(value)  # type: ignore[no-any-return]


async def _resolve(value: Any) -> Any:
    if isinstance(value, SecretStr):
        raw = value.get_secret_value()
        if not raw.startswith(PREFIX):
            return value
        name = raw.removeprefix(PREFIX)
        try:
            block = await Secret.aload(name)
        except ValueError:
            raise ConfigError(f"Prefect Secret block {name!r} does not exist") from None
        return SecretStr(str(block.get()))
    if isinstance(value, BaseModel):
        updates = {name: await _resolve(getattr(value, name)) for name in type(value).model_fields}
        return value.model_copy(update=updates)
    if isinstance(value, dict):
        return {key: await _resolve(item) for key, item in value.items()}
    if isinstance(value, list):
        return [await _resolve(item) for item in value]
    return value
