"""One charging session at the premise: plug-in -> bind -> energy request -> schedule ->
charge -> unplug, as OCPP 2.0.1 messages (design.md section 3, steps 1-11).

The session drives the premise's hardware only through an `Equipment` (simulated, or a
real meter and EVSE controller): a sample each interval, the limits whenever the profiles
change, the moment the vehicle is unplugged. It talks to the central only through a
`Transport`; transaction events go into the transport's durable, ordered outbox and carry
seqNo 0, 1, 2, ... for this transaction.
With each event it records a journal of itself, so a restarted agent carries on with the
same transaction (`ChargingSession.resume`), or closes it if the PEV is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from chargepoint.equipment import Equipment, MeterUnavailable, Sample
from chargepoint.pev import SimulatedPev
from shared.clock import Clock
from shared.profiles import ProfileStack
from shared.protocol.v201 import build_meter_value, charging_profile
from shared.timeutil import parse_timestamp, to_wire

log = logging.getLogger("chargepoint.session")

METER_INTERVAL = timedelta(seconds=60)
FAULT_AFTER = 3  # intervals in a row without a meter reading: the connector is Faulted
READ_RETRY_S = 2.0  # before plug-in's reading is tried again (real seconds)


class Transport(Protocol):
    @property
    def online(self) -> bool: ...

    async def request(self, action: str, **payload: Any) -> dict[str, Any]: ...

    async def transaction_event(self, payload: dict[str, Any],
                                journal: tuple[str, dict[str, Any]] | None = None,
                                ) -> asyncio.Future[dict[str, Any]]: ...

    def save_journal(self, key: str, state: dict[str, Any]) -> None: ...

    def forget_journal(self, key: str) -> None: ...


@dataclass(frozen=True)
class SessionResult:
    transaction_id: str
    accepted: bool
    energy_wh: int  # EUMD register delta
    total_cost: Decimal | None
    message: str
    running_cost: Decimal | None = None  # the last cost so far the central showed
    cost_updates: int = 0  # how many times it did


class ChargingSession:
    def __init__(self, transport: Transport, clock: Clock, evse: Equipment,
                 pev: SimulatedPev, departure: datetime, evse_id: int = 1) -> None:
        self.transport, self.clock, self.evse, self.pev = transport, clock, evse, pev
        evse.connect(pev)
        self.departure = departure
        self.evse_id = evse_id
        self.transaction_id = str(uuid.uuid4())
        self.profiles = ProfileStack()
        self._seq_no = 0
        self._metered_until: datetime | None = None
        self._stop = asyncio.Event()  # a remote stop (RequestStopTransaction)
        self._stopped_at: datetime | None = None
        self._raw_profiles: dict[int, dict[str, Any]] = {}
        self._plugged_in: datetime | None = None
        self._begin_register: int | None = None  # read at plug-in
        self._last: Sample | None = None  # the last good sample
        self._failed_reads = 0  # intervals in a row without one
        self._faulted = False
        self._status_report: asyncio.Task[None] | None = None  # the latest, sent in order
        self._unplugged = False
        self._message = ""  # what the central said at binding
        self._authorized = False
        self._resumed = False
        self._ended = False
        self._running_cost: Decimal | None = None
        self._cost_updates = 0

    @property
    def ongoing(self) -> bool:
        """Plugged in and not ended (the journal is cleared when the Ended is answered)."""
        return self._plugged_in is not None and not self._ended

    @property
    def journal_key(self) -> str:
        return f"evse/{self.evse_id}"

    def journal(self) -> dict[str, Any]:
        """Everything a restarted agent needs to carry on with this transaction."""
        return {
            "transaction_id": self.transaction_id, "seq_no": self._seq_no,
            "plugged_in": _iso(self._plugged_in), "departure": _iso(self.departure),
            "metered_until": _iso(self._metered_until), "stopped_at": _iso(self._stopped_at),
            "begin_register": self._begin_register, "message": self._message,
            "authorized": self._authorized, "profiles": list(self._raw_profiles.values()),
            "pev": {"pev_id": self.pev.pev_id, "vin": self.pev.vin,
                    "energy_wanted_wh": self.pev.energy_wanted_wh,
                    "max_power_w": self.pev.max_power_w,
                    "battery_capacity_wh": self.pev.battery_capacity_wh,
                    "state_of_charge": self.pev.state_of_charge,
                    "efficiency": self.pev.efficiency, "meter_error": self.pev.meter_error,
                    "ac_received_wh": self.pev.ac_received_wh},
        }

    @classmethod
    def resume(cls, transport: Transport, clock: Clock, evse: Equipment,
               state: dict[str, Any], evse_id: int = 1) -> ChargingSession:
        """The session a killed agent left in its journal. The EVSE was off meanwhile:
        nothing flowed, and the EUMD register carries on from where it was."""
        session = cls(transport, clock, evse, SimulatedPev(**state["pev"]),
                      parse_timestamp(state["departure"]), evse_id)
        session.transaction_id = state["transaction_id"]
        session._seq_no = state["seq_no"]
        session._plugged_in = parse_timestamp(state["plugged_in"])
        session._begin_register = state["begin_register"]
        session._message = state["message"]
        session._authorized = state["authorized"]
        session._resumed = True
        last = state["metered_until"] or state["plugged_in"]
        session._metered_until = parse_timestamp(last)
        if state["stopped_at"]:
            session._stopped_at = parse_timestamp(state["stopped_at"])
            session._stop.set()
        for profile in state["profiles"]:
            session._raw_profiles[profile["id"]] = profile
            session.profiles.install(charging_profile(profile))
        return session

    # --- called by the agent when the central sends a profile -------------------------

    def apply_profile(self, profile: dict[str, Any]) -> bool:
        """Take a TxProfile for this transaction; False if it is not ours or unusable."""
        if profile.get("charging_profile_purpose") != "TxProfile" or \
                profile.get("transaction_id") != self.transaction_id:
            return False
        try:
            installed = charging_profile(profile)
        except (ValueError, KeyError, IndexError) as error:
            log.warning("unusable charging profile", extra={"error": str(error)})
            return False
        self.profiles.install(installed)
        self._follow_profiles()
        self._raw_profiles[installed.id] = profile
        self._raw_profiles = {p.id: self._raw_profiles[p.id] for p in self.profiles.installed}
        self.transport.save_journal(self.journal_key, self.journal())
        schedule = installed.schedule
        start = next((schedule.start + timedelta(seconds=o)
                      for o, limit in schedule.periods if limit > 0), None)
        log.info("schedule received", extra={
            "transaction": self.transaction_id, "profile": installed.id,
            "stack_level": installed.stack_level, "max_power_w": schedule.max_limit,
            "start": to_wire(start) if start else None,
            "valid_to": to_wire(installed.valid_to) if installed.valid_to else None,
            "price_levels": _price_levels(profile)})
        return True

    def show_rate(self, text: str) -> None:
        """What the central has the station show of the binding and its rate, where the
        protocol says it apart from the authorization (1.6's SetUserPrice)."""
        self._message = text

    def show_cost(self, total_cost: Decimal) -> None:
        """The central's cost so far (CostUpdated), as the station's display shows it."""
        self._running_cost = total_cost
        self._cost_updates += 1
        log.info("running cost", extra={"transaction": self.transaction_id,
                                        "total_cost": str(total_cost)})

    def request_stop(self) -> bool:
        """The central asked to stop; False if the session is not charging any more."""
        if self._stop.is_set() or self._metered_until is None:
            return False
        self._stopped_at = self.clock.now()
        self._stop.set()
        return True

    def clear_profile(self, profile_id: int) -> bool:
        cleared = self.profiles.clear(profile_id)
        self._follow_profiles()
        self._raw_profiles.pop(profile_id, None)
        self.transport.save_journal(self.journal_key, self.journal())
        return cleared

    def _follow_profiles(self) -> None:
        """From now on the equipment charges under the profiles as they are now."""
        self.evse.follow(self.profiles.copy(), self.clock.now())

    def ev_charging_schedule(self) -> dict[str, Any]:
        """What the PEV plans to draw from now to its departure: the limits of the profiles
        installed now, composed as the station applies them (a DR overlay too), capped at
        the PEV's maximum; nothing from its departure on."""
        now = self.clock.now().replace(microsecond=0)
        periods: list[tuple[int, int]] = []
        for left, _right, limit in self.profiles.pieces(now, max(now, self.departure)):
            drawn = min(limit, self.pev.max_power_w)
            if not periods or periods[-1][1] != drawn:
                periods.append((int((left - now).total_seconds()), drawn))
        departs = int((self.departure - now).total_seconds())
        if departs > 0 and periods[-1][1] != 0:
            periods.append((departs, 0))
        return {"id": 1, "start_schedule": to_wire(now), "charging_rate_unit": "W",
                "charging_schedule_period": [{"start_period": offset, "limit": limit}
                                             for offset, limit in periods or [(0, 0)]]}

    # --- the session ------------------------------------------------------------------

    async def run(self) -> SessionResult:
        if self._resumed:
            return await self._carry_on()
        self._plugged_in = plugged_in = self.clock.now()
        begin = await self._plug_in_sample(plugged_in)
        self._begin_register = begin.register_wh
        await self._status("Occupied")
        await self._event("Started", "CablePluggedIn", plugged_in, begin, "Transaction.Begin",
                          charging_state="EVConnected", evse={"id": self.evse_id,
                                                              "connector_id": 1})
        # The EUMD reports every minute from plug-in on, whatever the handshake is doing.
        self._metered_until = plugged_in
        return await self._bind_and_charge(asyncio.create_task(self._meter_until_departure()))

    async def _carry_on(self) -> SessionResult:
        """After a restart: close the transaction if the PEV has left, else go on."""
        now = self.clock.now()
        log.info("resuming transaction", extra={"transaction": self.transaction_id,
                                                "seq_no": self._seq_no})
        self.evse.follow(self.profiles.copy(), now)
        if now >= self.departure or self._stopped_at is not None:
            assert self._metered_until is not None
            await self._sample(self._metered_until)  # the register as the PEV left it
            ended = await self._end(self._metered_until, "AbnormalCondition", "PowerLoss")
            return self._result(ended)
        self._metered_until = now  # the EVSE was off: nothing flowed while we were down
        await self._sample(now)
        metering = asyncio.create_task(self._meter_until_departure())
        if self._authorized:
            await metering
            return await self._finish()
        return await self._bind_and_charge(metering)

    async def _bind_and_charge(self, metering: asyncio.Task[None]) -> SessionResult:
        info = (await self.transport.request("Authorize", id_token=self._id_token()))[
            "id_token_info"]
        self._message = message = info.get("personal_message", {}).get("content", "")
        if info["status"] != "Accepted":
            metering.cancel()
            log.warning("binding refused", extra={"transaction": self.transaction_id,
                                                  "status": info["status"], "reason": message})
            ended = await self._end(self.clock.now(), "Deauthorized", "DeAuthorized",
                                    id_token=self._id_token())
            return SessionResult(self.transaction_id, False, 0, _cost(ended), message)
        log.info("binding accepted", extra={"transaction": self.transaction_id,
                                            "personal_message": message})
        self._authorized = True
        authorized = await self._event("Updated", "Authorized", self.clock.now(),
                                       id_token=self._id_token(), charging_state="EVConnected")
        await authorized  # the central binds the payer before it can plan the energy
        needs = await self.transport.request(
            "NotifyEVChargingNeeds", evse_id=self.evse_id, charging_needs=self._needs())
        offer = needs.get("custom_data") or {}
        log.info("energy request answered", extra={
            "transaction": self.transaction_id, "status": needs.get("status"),
            "requested_wh": int(self.pev.remaining_wh()),
            "energy_available_wh": offer.get("energy_available_wh"), "note": offer.get("note")})
        await metering
        return await self._finish()

    async def _finish(self) -> SessionResult:
        if self._stopped_at is not None and not self._unplugged:
            ended = await self._end(self._stopped_at, "RemoteStop", "Remote")
        else:
            ended = await self._end(self._stopped_at or self.departure, "EVDeparted",
                                    "EVDisconnected")
        return self._result(ended)

    def _result(self, ended: dict[str, Any]) -> SessionResult:
        assert self._begin_register is not None
        energy = (self._last.register_wh if self._last else self._begin_register) \
            - self._begin_register
        log.info("session ended", extra={"transaction": self.transaction_id,
                                         "energy_wh": energy, "total_cost": _cost(ended),
                                         "state_of_charge": round(self.pev.state_of_charge, 3)})
        return SessionResult(self.transaction_id, True, energy, _cost(ended), self._message,
                             self._running_cost, self._cost_updates)

    async def _meter_until_departure(self) -> None:
        assert self._metered_until is not None
        watch = asyncio.create_task(self._watch_unplug())
        try:
            tick = self._metered_until.replace(second=0, microsecond=0) + METER_INTERVAL
            while tick < self.departure:
                if await self._stopped_before(tick):
                    break
                sample = await self._sample(tick)
                self._metered_until = tick
                state = sample or self._last
                await self._event("Updated", "MeterValuePeriodic", tick, sample,
                                  "Sample.Periodic", charging_state=state.charging_state
                                  if state else "EVConnected")
                tick += METER_INTERVAL
            stopped = self._stopped_at is not None or await self._stopped_before(self.departure)
            end = self._stopped_at if stopped and self._stopped_at else self.departure
            await self._sample(end)
            self._metered_until = end
        finally:
            watch.cancel()

    async def _watch_unplug(self) -> None:
        """The vehicle unplugged before its departure: the session stops there."""
        at = await self.evse.unplugged()
        if not self._stop.is_set():
            log.info("vehicle unplugged", extra={"transaction": self.transaction_id,
                                                 "at": to_wire(at)})
            self._unplugged = True
            self._stopped_at = at
            self._stop.set()

    async def _plug_in_sample(self, at: datetime) -> Sample:
        """The register at plug-in: a transaction cannot begin without it."""
        while (sample := await self._sample(at)) is None:
            await asyncio.sleep(READ_RETRY_S)
            at = self.clock.now()
        return sample

    async def _sample(self, at: datetime) -> Sample | None:
        """The equipment's sample at `at`, or None when the meter gave no good reading:
        the interval is then reported without one (the next good reading carries the
        energy). Repeated failures make the connector Faulted, until a reading is good."""
        try:
            sample = await self.evse.sample(at)
        except MeterUnavailable as error:
            self._failed_reads += 1
            log.warning("interval without a meter reading", extra={
                "transaction": self.transaction_id, "at": to_wire(at),
                "intervals_failed": self._failed_reads, "error": str(error)})
            if self._failed_reads >= FAULT_AFTER and not self._faulted:
                self._faulted = True
                self._report_status("Faulted")
            return None
        self._failed_reads = 0
        if self._faulted:
            self._faulted = False
            self._report_status("Occupied")
        self._last = sample
        return sample

    def _report_status(self, status: str) -> None:
        """Send a StatusNotification without holding up metering; reports go in order."""
        previous = self._status_report

        async def report() -> None:
            if previous is not None:
                await previous
            log.info("connector status", extra={"status": status})
            await self._status(status)

        self._status_report = asyncio.create_task(report())

    async def _stopped_before(self, moment: datetime) -> bool:
        """Wait until `moment` (clock time); True if a remote stop or an unplug came first."""
        while not self._stop.is_set() and (left := (moment - self.clock.now()).total_seconds()) > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), left / self.clock.speed)
        return self._stop.is_set()

    async def _end(self, at: datetime, trigger: str, reason: str,
                   **extra: Any) -> dict[str, Any]:
        self._ended = True
        done = await self._event("Ended", trigger, at, self._last, "Transaction.End",
                                 charging_state="Idle", stopped_reason=reason, **extra)
        if self._status_report is not None:
            await self._status_report
        await self._status("Available")
        answer = await done
        self.transport.forget_journal(self.journal_key)  # the central has it all now
        return answer

    async def _event(self, event_type: str, trigger: str, at: datetime,
                     sample: Sample | None = None, context: str | None = None, *,
                     charging_state: str, stopped_reason: str | None = None,
                     **extra: Any) -> asyncio.Future[dict[str, Any]]:
        """Queue one TransactionEvent; the future resolves with the central's answer."""
        info: dict[str, Any] = {"transaction_id": self.transaction_id,
                                "charging_state": charging_state}
        if stopped_reason:
            info["stopped_reason"] = stopped_reason
        payload: dict[str, Any] = {
            "event_type": event_type, "timestamp": to_wire(at), "trigger_reason": trigger,
            "seq_no": self._seq_no, "transaction_info": info, **extra}
        if context and sample:
            payload["meter_value"] = [build_meter_value(
                sample.at, context, sample.register_wh,
                sample.power_w if context == "Sample.Periodic" else None,
                sample.ev_total_wh if context != "Transaction.Begin" else None)]
        if not self.transport.online:
            payload["offline"] = True
        self._seq_no += 1
        return await self.transport.transaction_event(payload,
                                                      (self.journal_key, self.journal()))

    async def _status(self, status: str) -> None:
        await self.transport.request("StatusNotification", timestamp=to_wire(self.clock.now()),
                                     connector_status=status, evse_id=self.evse_id,
                                     connector_id=1)

    def _id_token(self) -> dict[str, Any]:
        token: dict[str, Any] = {"id_token": self.pev.pev_id, "type": "Central"}
        if self.pev.vin:
            token["additional_info"] = [{"additional_id_token": self.pev.vin, "type": "VIN"}]
        return token

    def _needs(self) -> dict[str, Any]:
        phases = {1: "AC_single_phase", 2: "AC_two_phase", 3: "AC_three_phase"}
        return {
            "requested_energy_transfer": phases[self.pev.phases],
            "departure_time": to_wire(self.departure),
            "ac_charging_parameters": {
                "energy_amount": int(self.pev.remaining_wh()),
                "ev_min_current": 6,
                "ev_max_current": self.pev.max_power_w // (self.pev.voltage_v * self.pev.phases),
                "ev_max_voltage": self.pev.voltage_v,
            },
        }


def _cost(response: dict[str, Any]) -> Decimal | None:
    cost = response.get("total_cost")
    return Decimal(str(cost)) if cost is not None else None


def _price_levels(profile: dict[str, Any]) -> int | None:
    tariff = profile["charging_schedule"][0].get("sales_tariff")
    return tariff.get("num_e_price_levels") if tariff else None


def _iso(moment: datetime | None) -> str | None:
    return to_wire(moment) if moment else None
