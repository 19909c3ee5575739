"""What the central asks of a station, whatever OCPP version it speaks.

The domain (DR dispatch, the operator's stop) says what it wants done as one of these
commands; the station's protocol adapter turns it into its version's message. The result
is the station's status word (Accepted, Rejected, ...), "NoAnswer" without an answer in
time, or "CALLERROR" for a call the station refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from shared.profiles import ChargingProfile


@dataclass(frozen=True)
class SetProfile:
    """Install a transaction's charging profile at the EVSE."""

    evse_id: int
    profile: ChargingProfile


@dataclass(frozen=True)
class ClearProfile:
    profile_id: int


@dataclass(frozen=True)
class StopTransaction:
    transaction_id: str


Command = SetProfile | ClearProfile | StopTransaction


class NotConnected(LookupError):
    """The station has no live connection to send a command on."""


class Stations(Protocol):
    """The connected stations, as the domain sees them."""

    async def send(self, station_id: str, command: Command) -> str:
        """The station's status for the command; NotConnected if it is not connected."""
        ...
