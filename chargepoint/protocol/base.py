"""What the agent and each OCPP version's client know of each other."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Protocol

from websockets.asyncio.client import ClientConnection

from chargepoint.outbox import Outbox
from chargepoint.session import ChargingSession


class Station(Protocol):
    """The agent, as a version's client sees it."""

    session: ChargingSession | None
    outbox: Outbox

    def save_journal(self, key: str, state: dict[str, Any]) -> None: ...

    def forget_journal(self, key: str) -> None: ...


@dataclass(frozen=True)
class Boot:
    current_time: datetime
    interval: int | None
    status: str


class ClientLink:
    """Mixed in before a version's `ocpp` ChargePoint: the agent its handlers serve."""

    def __init__(self, station_id: str, connection: ClientConnection, agent: Station) -> None:
        super().__init__(station_id, connection)  # type: ignore[call-arg]
        self.agent = agent


class Client(Protocol):
    """One connection in one OCPP version. The session's requests and transaction events
    come in 2.0.1's shapes (snake_case, as the `ocpp` package takes them); a client
    sends them as its version's messages and answers in the same shapes."""

    subprotocol: ClassVar[str]

    def __init__(self, station_id: str, connection: ClientConnection,
                 agent: Station) -> None: ...

    async def start(self) -> None: ...

    async def boot(self, vendor: str, model: str) -> Boot: ...

    async def heartbeat(self) -> None: ...

    async def request(self, action: str, payload: dict[str, Any]) -> dict[str, Any]: ...

    async def transaction_event(self, payload: dict[str, Any]) -> dict[str, Any]: ...
