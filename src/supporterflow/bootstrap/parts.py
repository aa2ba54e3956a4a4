"""The pieces the composition root builds downstream clients from: where a client talks
(a URL, or an emulator in-process), and what stands in for one the settings do not provide."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr

from supporterflow.adapters.outbound import AiohttpTransport, AsgiTransport, Transport
from supporterflow.config import Settings
from supporterflow.ports import Retry


class NotConfigured:
    """Stands in for a collaborator that only some flows need and the settings do not provide:
    the others run, and a flow that calls it gets ``Retry`` with what to set, so its message
    ends in the dead-letter queue, replayable once the setting is there."""

    def __init__(self, what: str, hint: str) -> None:
        self._problem = f"{what} is not configured: {hint}"

    def __getattr__(self, name: str) -> Callable[..., Any]:
        async def unavailable(*args: Any, **kwargs: Any) -> Any:
            raise Retry(self._problem)

        return unavailable


@dataclass
class Downstream:
    """What ``downstream`` found: clients by collaborator name, what is missing and how to
    provide it, the transports to close, and the in-process emulators' state to close."""

    clients: dict[str, Any] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    transports: list[Transport] = field(default_factory=list)
    closers: list[Callable[[], None]] = field(default_factory=list)


def transport_for(
    url: str | None, settings: Settings, emulator: Callable[[], Any], name: str
) -> Transport | None:
    """The configured URL; with no URL and the emulators on, the emulator called in-process (no
    socket, no port); else None."""
    if url:
        return AiohttpTransport(url)
    if settings.emulators == "on":
        return AsgiTransport(emulator(), name)
    return None


def secret(value: SecretStr | None) -> str | None:
    return None if value is None else value.get_secret_value()


def keep(found: Downstream, transport: Transport) -> Transport:
    found.transports.append(transport)
    return transport
