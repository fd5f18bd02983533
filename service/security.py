"""API keys: `API_KEY` guards every write, an optional `READ_API_KEY` guards reads too.

A key travels as `Authorization: Bearer KEY` or `X-API-Key: KEY` and is compared in constant
time. Without `API_KEY` the service takes writes only while it listens on a loopback address,
so a service opened to the network never takes anonymous writes. Keys are never logged.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from pydantic import SecretStr
from starlette.exceptions import HTTPException

from service.deps import SettingsDep
from service.settings import Settings

logger = logging.getLogger(__name__)

HOW_TO_SEND = "Send it as `Authorization: Bearer KEY` or `X-API-Key: KEY`."


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and `localhost`: addresses only this machine can reach."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def presented_key(request: Request) -> str | None:
    """The key the client sent (Bearer first, then X-API-Key), or None if it sent none."""
    authorization = request.headers.get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    key = request.headers.get("x-api-key", "").strip()
    return key or None


def _secret(value: SecretStr | None) -> bytes | None:
    """The configured key as bytes; an empty setting counts as no key, never as a key of ''."""
    if value is None or not value.get_secret_value():
        return None
    return value.get_secret_value().encode()


def _matches(key: str, secrets: list[bytes]) -> bool:
    """Compares against every secret without stopping early, so timing tells nothing."""
    given = key.encode()
    results = [hmac.compare_digest(given, secret) for secret in secrets]
    return any(results)


def _missing_key() -> HTTPException:
    return HTTPException(
        401, f"This request needs an API key. {HOW_TO_SEND}", {"WWW-Authenticate": "Bearer"}
    )


async def require_read(request: Request, settings: SettingsDep) -> None:
    """Open unless READ_API_KEY is set; then either key (read or write) is accepted."""
    read_key = _secret(settings.read_api_key)
    if read_key is None:
        return
    key = presented_key(request)
    if key is None:
        raise _missing_key()
    accepted = [read_key] + [k for k in [_secret(settings.api_key)] if k is not None]
    if not _matches(key, accepted):
        raise HTTPException(
            403,
            "The API key sent is not valid. Send the key the server has in READ_API_KEY "
            "(or API_KEY).",
        )


async def require_write(request: Request, settings: SettingsDep) -> None:
    """Writes need API_KEY; with none set, only a service listening on loopback takes them."""
    write_key = _secret(settings.api_key)
    if write_key is None:
        if not is_loopback(settings.host):
            raise HTTPException(
                403,
                f"Writes are refused: the service listens on {settings.host} without an API "
                "key. Set API_KEY on the server and send it with each write "
                "(`Authorization: Bearer KEY`), or listen on 127.0.0.1.",
            )
        # A write is never less protected than a read: with READ_API_KEY set, it needs a key.
        await require_read(request, settings)
        return
    key = presented_key(request)
    if key is None:
        raise _missing_key()
    if not _matches(key, [write_key]):
        raise HTTPException(
            403, "The API key sent does not allow writes. Send the key the server has in API_KEY."
        )


WriteAccess = Annotated[None, Depends(require_write)]
ReadAccess = Annotated[None, Depends(require_read)]


def install(app: FastAPI, settings: Settings) -> None:
    """Says at startup what the keys allow, so an open or write-locked service is no surprise."""
    exposed = not is_loopback(settings.host)
    if exposed and _secret(settings.api_key) is None:
        logger.warning(
            "listening on %s without API_KEY: every write is refused (403) until it is set",
            settings.host,
        )
    if exposed and _secret(settings.read_api_key) is None:
        logger.info(
            "reads are open to anyone who can reach %s; set READ_API_KEY to protect them",
            settings.host,
        )
