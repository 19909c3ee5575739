"""What the central system does for a station: the domain calls behind the OCPP handlers.

Handlers translate OCPP to these calls and back; this module holds the order of work
(load enrollment data, decide, plan, meter, bill, store) and never sees a WebSocket.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from central.domain import billing, demand, planner
from central.domain.authorize import Decision, Refusal, decide, describe
from central.domain.certificates import CsrRefused, StationCa
from central.domain.events import EventBus
from central.domain.reconcile import Thresholds, reconcile
from central.domain.registry import Identifier, Premise
from central.domain.sessions import Session
from central.domain.station_records import StationRecords
from central.store.sqlite import NotFound, SqliteStore
from shared.clock import Clock
from shared.metering import MeterSample
from shared.profiles import ChargingProfile, ProfileStack
from shared.schedule import Schedule
from shared.timeutil import parse_timestamp, to_wire

log = logging.getLogger("central.domain.services")

FUTURE_TOLERANCE = timedelta(hours=1)  # station clocks drift; beyond this, flag it
COST_UPDATE_EVERY = timedelta(minutes=5)  # of meter time: the running cost at the station
NOMINAL_VOLTAGE_V = 230  # to read an EV plan in A when its charging needs gave no voltage


@dataclass(frozen=True)
class AuthorizationResult:
    status: str  # OCPP AuthorizationStatus
    message: str
    group_id: str | None = None
    scenario: str | None = None
    payer_account: str | None = None
    tariff_id: str | None = None  # the rate the PEV is billed at here, once accepted


@dataclass(frozen=True)
class RateAhead:
    """A tariff's energy prices for the next day, by local time of day, to show."""

    tariff_id: str
    currency: str
    prices: tuple[tuple[time, time, Decimal], ...]  # (from, to, price per kWh)


class TxEvent(NamedTuple):
    """One TransactionEvent as the services take it (a NamedTuple: one is made for every
    message, in a third of a frozen dataclass's time)."""

    station_id: str
    transaction_id: str
    seq_no: int
    event_type: str  # Started | Updated | Ended
    timestamp: datetime
    trigger_reason: str
    offline: bool = False
    evse_id: int | None = None
    identifiers: tuple[Identifier, ...] = ()  # idToken, then its additionalInfo
    samples: tuple[MeterSample, ...] = ()
    stopped_reason: str | None = None
    charging_state: str | None = None
    ocpp_version: str | None = None  # of the link that carried it, for the record
    # whether the station numbers its events 0, 1, 2, ... (a session's completeness is
    # then that no number is missing; without, that its register never went back)
    seq_counted: bool = True


@dataclass(frozen=True)
class TxReply:
    """What the CSMS answers; stored so a duplicate is answered exactly the same way."""

    authorization: AuthorizationResult | None = None
    total_cost: Decimal | None = None
    # the cost so far, to show at the station, when one is due; not stored: a duplicate
    # brings no newer cost to show
    running_cost: Decimal | None = None

    def to_json(self) -> dict[str, Any]:
        return {"authorization": asdict(self.authorization) if self.authorization else None,
                "total_cost": str(self.total_cost) if self.total_cost is not None else None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TxReply:
        auth = data.get("authorization")
        cost = data.get("total_cost")
        return cls(AuthorizationResult(**auth) if auth else None,
                   Decimal(cost) if cost is not None else None)


@dataclass(frozen=True)
class PlanCheck:
    """The verdict on an EV's plan: kept to the limits, or why not (and what to resend)."""

    within: bool
    reason_code: str = ""
    reason: str = ""
    resend: list[ChargingProfile] = field(default_factory=list, repr=False)


@dataclass(frozen=True)
class Negotiation:
    plan: planner.Plan
    profiles: list[ChargingProfile] = field(repr=False)  # DR overlays, then the normal one


class CentralServices:
    def __init__(self, store: SqliteStore, clock: Clock,
                 thresholds: Thresholds | None = None, bus: EventBus | None = None,
                 station_ca: StationCa | None = None) -> None:
        self.store = store
        self.clock = clock
        self.thresholds = thresholds or Thresholds()
        self.bus = bus or EventBus()
        self.records = StationRecords(store, clock, self.bus)
        self.station_ca = station_ca  # signs stations' CSRs, when the utility gives one

    # --- provisioning -----------------------------------------------------------------

    async def station_booted(self, station_id: str, vendor: str, model: str,
                             firmware: str | None, ocpp_version: str) -> datetime:
        now = self.clock.now()
        await self.store.record_boot(station_id, vendor, model, firmware, now, ocpp_version)
        log.info("station booted", extra={"station": station_id, "vendor": vendor,
                                          "model": model, "ocpp": ocpp_version})
        return now

    async def station_seen(self, station_id: str) -> datetime:
        now = self.clock.now()
        await self.store.record_seen(station_id, now)
        return now

    def sign_certificate(self, station_id: str, csr: str, certificate_type: str | None,
                         ) -> str:
        """The station's new certificate chain (PEM); CsrRefused says why not."""
        if self.station_ca is None:
            raise CsrRefused("this central has no CA to sign station certificates with")
        chain = self.station_ca.sign(station_id, csr, certificate_type, datetime.now(UTC))
        log.info("station certificate signed", extra={"station": station_id})
        return chain

    # --- authorization ----------------------------------------------------------------

    async def authorize(self, station_id: str,
                        identifiers: tuple[Identifier, ...]) -> AuthorizationResult:
        """A PEV's identifiers presented at a station, outside a transaction event.

        A refusal is kept on the station's newest live session that no PEV is bound to:
        a charger that starts its transaction at plug-in asks Authorize before it puts
        the idToken in an event, and when refused it may never put it in one (it ends
        the transaction at unplug without)."""
        decision, premise = await self._decide(station_id, identifiers)
        result = await self._result(decision)
        log_fn = log.info if result.status == "Accepted" else log.warning
        log_fn("authorization", extra={"station": station_id, "status": result.status,
                                       "scenario": result.scenario})
        if isinstance(decision, Refusal):
            async with self.store.unit():
                session = await self.store.awaiting_binding(station_id)
                if session is not None:
                    _refuse(session, decision, identifiers, premise)
                    await self.store.save_session(session)
            self._publish_refusal(station_id, decision, identifiers)
        return result

    def _publish_refusal(self, station_id: str, refusal: Refusal,
                         identifiers: tuple[Identifier, ...]) -> None:
        self.bus.publish("binding.refused", station=station_id, status=refusal.status,
                         reason=refusal.reason, pev=refusal.pev_id or identifiers[0].id_token,
                         at=to_wire(self.clock.now()))

    async def _decide(self, station_id: str, identifiers: tuple[Identifier, ...],
                      ) -> tuple[Decision, Premise]:
        station = await self.store.station(station_id)
        if station is None:
            raise NotFound(f"unknown station {station_id!r}")
        premise = await self.store.premise(station.premise_id)
        pev = await self.store.find_pev(identifiers)
        program = await self.store.program(pev.program_id) if pev else None
        return decide(pev, premise, program, self.clock.now()), premise

    async def _result(self, decision: Decision) -> AuthorizationResult:
        if isinstance(decision, Refusal):
            return AuthorizationResult(decision.status, decision.reason)
        utility = await self.store.utility()
        tariff = await self.store.tariff(decision.tariff_id)
        message = describe(decision, tariff.name, tariff.price_at(self.clock.now()),
                                     utility.currency)
        return AuthorizationResult("Accepted", message, decision.pev.group_id,
                                   decision.scenario, decision.payer_account,
                                   decision.tariff_id)

    async def rate_ahead(self, tariff_id: str) -> RateAhead:
        now = self.clock.now()
        tariff = await self.store.tariff(tariff_id)
        return RateAhead(tariff.id, (await self.store.utility()).currency,
                         tuple(tariff.time_of_day_prices(now, now + timedelta(days=1))))

    # --- transactions -----------------------------------------------------------------

    async def transaction_event(self, event: TxEvent) -> TxReply:
        """Record one TransactionEvent durably; a duplicate gets the first answer again."""
        async with self.store.unit():
            stored = await self.store.event_reply(event.station_id, event.transaction_id,
                                                  event.seq_no)
            if stored is not None:
                log.info("duplicate transaction event", extra={
                    "station": event.station_id, "transaction": event.transaction_id,
                    "seq_no": event.seq_no})
                return TxReply.from_json(stored)
            session = await self.store.session(event.station_id, event.transaction_id) \
                or Session(event.station_id, event.transaction_id)
            authorization, changed = await self._apply(session, event)
            if session.id is None:
                await self.store.save_session(session)  # readings refer to its id
            assert session.id is not None
            await self.store.add_readings(session.id, event.seq_no, event.samples)
            total_cost = running_cost = None
            if session.ended_at is not None:
                await self._bill(session)
                total_cost = session.cost_total if session.cost_total is not None \
                    else Decimal("0.00")
                session.complete = session.started_at is not None and (
                    await self._contiguous(event) if event.seq_counted
                    else await self._register_continuous(session, event))
            elif session.tariff_id is not None:
                newest = _keep_running_cost(session, event.samples, self.bus.listened)
                if newest is not None:  # the cost is due, or to be rated for a watcher
                    running_cost = await self._running_cost(session, newest)
            if changed or total_cost is not None:  # not for a meter value: the live view
                await self.store.save_session(session)
            reply = TxReply(authorization, total_cost, running_cost)
            await self.store.add_event(event.station_id, event.transaction_id, event.seq_no,
                                       event.event_type, event.trigger_reason, event.timestamp,
                                       event.offline, reply.to_json())
        self._publish_transaction(session, event)
        return reply

    async def _contiguous(self, event: TxEvent) -> bool:
        """This event and those stored before it run seqNo 0, 1, 2, ... without a gap."""
        seq_nos = {*await self.store.event_seq_nos(event.station_id, event.transaction_id),
                   event.seq_no}
        return seq_nos == set(range(len(seq_nos)))

    async def _register_continuous(self, session: Session, event: TxEvent) -> bool:
        """The session's register, in time order, never went back (this event's too)."""
        assert session.id is not None
        registers = sorted((s.timestamp, s.register_wh)
                           for s in (*await self.store.readings(session.id), *event.samples)
                           if s.register_wh is not None)
        return all(a <= b for (_, a), (_, b) in itertools.pairwise(registers))

    async def assign_transaction_id(self, station_id: str, start: str) -> int:
        """A transaction id the central chooses, for a station that does not choose its
        own: the same `start` (what the station says of it) gets the same id again."""
        async with self.store.unit():
            return await self.store.assign_transaction_id(station_id, start)

    async def incomplete(self, station_id: str, transaction_id: str) -> bool:
        session = await self.store.session(station_id, transaction_id)
        return session is not None and not session.complete

    async def _running_cost(self, session: Session, newest: datetime) -> Decimal | None:
        """The cost so far to show at the station, when one is due (COST_UPDATE_EVERY of
        meter time after the last, and at each tariff period change), rounded to cents.

        A session's cost is kept from reading to reading (_keep_running_cost) once
        rated; it is rated from all its readings (this event's too) only when it is due
        or watched and not kept: for a session just bound or loaded, or after a reading
        older than the newest (an offline replay), which changes what was rated."""
        due = session.cost_due is None or newest >= session.cost_due
        if session.running_cost is None and (due or self.bus.listened):
            assert session.id is not None and session.tariff_id is not None
            session.running_cost = billing.RunningCost.rated(
                await self.store.tariff(session.tariff_id),
                [billing.Reading(s.timestamp, s.register_wh)
                 for s in await self.store.readings(session.id) if s.register_wh is not None])
        running = session.running_cost
        if not due or running is None:
            return None
        session.cost_due = min(newest + COST_UPDATE_EVERY, running.tariff.span_at(newest).end)
        return running.total

    def _publish_transaction(self, session: Session, event: TxEvent) -> None:
        if not self.bus.listened:
            return  # nobody watching: building the event would cost ~8 us, per event
        sample = next((s for s in reversed(event.samples) if s.register_wh is not None), None)
        register = sample.register_wh if sample else None
        energy = register - session.begin_register_wh \
            if register is not None and session.begin_register_wh is not None else None
        self.bus.publish(
            "transaction", station=session.station_id, transaction_id=session.transaction_id,
            session_id=session.id, ocpp=session.ocpp_version, event_type=event.event_type,
            seq_no=event.seq_no,
            at=to_wire(event.timestamp), charging_state=event.charging_state,
            status=session.status, pev=session.pev_id, premise=session.premise_id,
            scenario=session.scenario, payer=session.payer_account,
            power_w=sample.power_w if sample else None,
            energy_wh=energy,
            cost=str(session.cost_total) if session.cost_total is not None
            else str(session.running_cost.total) if session.running_cost is not None
            else None,
            departure=to_wire(session.departure) if session.departure else None,
            dr_windows=session.dr_windows)

    async def _apply(self, session: Session, event: TxEvent,
                     ) -> tuple[AuthorizationResult | None, bool]:
        """Fold one event into the session record; bind the payer on the first idToken.
        Returns the binding's result, and whether the stored record changed (a meter
        value changes only the live view)."""
        changed = event.event_type != "Updated"
        if event.timestamp > self.clock.now() + FUTURE_TOLERANCE:
            changed |= _flag(session, f"seqNo {event.seq_no} is dated "
                                      f"{to_wire(event.timestamp)}, in the future")
        if session.evse_id is None and event.evse_id is not None:
            session.evse_id, changed = event.evse_id, True
        if session.ocpp_version is None and event.ocpp_version is not None:
            session.ocpp_version, changed = event.ocpp_version, True
        if event.event_type == "Started":
            session.started_at = event.timestamp
            begin = next((s.register_wh for s in event.samples if s.register_wh is not None),
                         None)
            session.begin_register_wh = begin if begin is not None \
                else session.begin_register_wh
        if event.event_type == "Ended":
            session.ended_at = event.timestamp
            session.stopped_reason = event.stopped_reason
            if session.status == "active":
                session.status = "ended"
        if not event.identifiers:
            return None, changed
        # Every event with an idToken is answered with that token's status (OCPP E03); the
        # first accepted one binds the payer, which no later token changes.
        decision, premise = await self._decide(event.station_id, event.identifiers)
        result = await self._result(decision)
        if session.bound:
            return result, changed
        if isinstance(decision, Refusal):
            if session.status != "refused":
                self._publish_refusal(event.station_id, decision, event.identifiers)
            _refuse(session, decision, event.identifiers, premise)
            return result, True
        session.id_token = event.identifiers[0].id_token
        session.premise_id = premise.id
        session.pev_id = decision.pev.id
        session.payer_account = decision.payer_account
        session.scenario = decision.scenario
        session.payer_rule = decision.rule
        session.tariff_id = decision.tariff_id
        if session.status == "refused":  # an earlier token was refused, this one is not
            session.status = "ended" if session.ended_at is not None else "active"
            session.refusal = None
        return result, True

    async def _bill(self, session: Session) -> None:
        assert session.id is not None
        samples = await self.store.readings(session.id)
        readings = [billing.Reading(s.timestamp, s.register_wh)
                    for s in samples if s.register_wh is not None]
        if readings:
            session.begin_register_wh = readings[0].register_wh
            session.end_register_wh = readings[-1].register_wh
        session.pev_total_wh = max((s.ev_total_wh for s in samples if s.ev_total_wh is not None),
                                   default=None)
        if session.tariff_id is None or session.status == "refused":
            session.energy_wh = 0
            return  # nobody to bill: a refused or never-bound session
        metered = len(readings) >= 2
        if metered and session.started_at is not None:
            readings, problem = billing.trusted_baseline(readings, await
                                                         self.store.previous_end_register(
                                                             session.station_id,
                                                             session.started_at))
            if problem:
                _flag(session, problem)
                session.begin_register_wh = readings[0].register_wh
        if not metered:  # no EUMD data: estimate from the PEV's own running total
            readings = [billing.Reading(s.timestamp, s.ev_total_wh)
                        for s in samples if s.ev_total_wh is not None]
        bill = billing.rate(readings, await self.store.tariff(session.tariff_id))
        for problem in bill.problems:
            _flag(session, problem)
        session.energy_wh = bill.energy_wh
        session.cost_total = bill.total
        session.cost_by_period = bill.by_period()
        session.currency = (await self.store.utility()).currency
        session.dr_energy_wh = {
            event_id: billing.energy_within(readings, parse_timestamp(w["from"]),
                                            parse_timestamp(w["to"]))
            for event_id, w in session.dr_windows.items()}
        session.reconciliation = reconcile(bill.energy_wh if metered else None,
                                           session.pev_total_wh, self.thresholds).to_json()
        if session.scenario == "L2-B" and session.premise_id:
            # Subtractive billing: the host's premise meter also recorded this energy.
            host = await self.store.premise(session.premise_id)
            credit = billing.rate(readings, await self.store.tariff(host.rate_plan))
            await self.store.save_credit(session, host.account_id, credit.energy_wh,
                                         credit.total, credit.by_period())
        log.info("session billed", extra={
            "station": session.station_id, "transaction": session.transaction_id,
            "payer": session.payer_account, "energy_wh": bill.energy_wh,
            "cost": str(bill.total), "problems": list(bill.problems)})

    # --- smart charging ---------------------------------------------------------------

    async def charging_needs(self, station_id: str, evse_id: int,
                             request: planner.EnergyRequest) -> Negotiation | None:
        """Plan the live session at this EVSE; None when there is no bound session."""
        async with self.store.unit():
            session = await self.store.live_session(station_id, evse_id)
            if session is None or not session.bound or session.pev_id is None:
                return None
            assert session.id is not None and session.tariff_id is not None
            pev = await self.store.pev(session.pev_id)
            program = await self.store.program(pev.program_id)
            station = await self.store.station(station_id)
            assert station is not None
            premise = await self.store.premise(station.premise_id)
            limits = [planner.Limit("program", program.max_power_w),
                      planner.Limit("station", station.max_power_w),
                      planner.Limit("premise service", premise.service_limit_w)]
            power = min([limit.power_w for limit in limits] +
                        ([request.ev_max_power_w] if request.ev_max_power_w else []))
            others = [schedule_of(s) for s in await self.store.live_sessions_at(premise.id)
                      if s.id != session.id and s.schedule]
            events = [e for e in await self.active_dr_events()
                      if demand.applies_to(e, station_id, premise.id)]
            result = planner.plan(
                self.clock.now(), request, limits, await self.store.tariff(program.tariff_id),
                program.economy, caps=planner.premise_caps(premise.service_limit_w, others),
                overlays=[demand.cap(e, station_id, power) for e in events],
                delay_s=randomized_delay(session, program.randomized_delay_s))
            session.energy_requested_wh = result.requested_wh
            session.energy_available_wh = result.available_wh
            session.departure = result.departure
            session.ev_voltage_v, session.ev_phases = request.ev_voltage_v, request.phases
            session.schedule = {"start": to_wire(result.schedule.start),
                                "periods": [list(p) for p in result.schedule.periods]}
            for event in events:
                session.dr_windows[str(event.id)] = self._window(session, event)
            profiles = await self._given_profiles(session, events)
            await self.store.save_session(session)
        log.info("energy plan", extra={"station": station_id, "transaction":
                                       session.transaction_id, "requested_wh":
                                       result.requested_wh, "available_wh": result.available_wh,
                                       "power_w": result.power_w, "note": result.note})
        return Negotiation(result, profiles)

    # --- demand response --------------------------------------------------------------

    async def active_dr_events(self) -> list[demand.DrEvent]:
        now = self.clock.now()
        return [e for e in await self.store.dr_events() if e.ends > now]

    async def _given_profiles(self, session: Session, events: list[demand.DrEvent],
                              ) -> list[ChargingProfile]:
        """The profiles the central gives a planned session, in the order they are sent:
        an overlay for each of these DR events, then its normal TxProfile (with the rate's
        price levels), last, as a station reports the EV's own plan when it gets that one
        (NotifyEVChargingSchedule), by then under every limit the plan is held to."""
        assert session.id is not None and session.tariff_id is not None
        normal = schedule_of(session)
        assert session.departure is not None
        rate = await self.store.tariff(session.tariff_id)
        return [*(_overlay_profile(session, event) for event in events),
                ChargingProfile(session.id, 0, normal, transaction_id=session.transaction_id,
                                price_segments=tuple(rate.segments(normal.start,
                                                                   session.departure)))]

    @staticmethod
    def _window(session: Session, event: demand.DrEvent) -> dict[str, str]:
        """The event's window at the session's station, as the session keeps it."""
        begin, end = demand.window(event, session.station_id)
        return {"from": to_wire(begin), "to": to_wire(end)}

    async def check_ev_plan(self, station_id: str, evse_id: int,
                            plan: planner.EvPlan) -> PlanCheck:
        """Whether the EV's own plan keeps to the limits the central gave its session
        (OCPP K15.FR.12); when it does not, the profiles to give it again."""
        session = await self.store.live_session(station_id, evse_id)
        if session is None or session.schedule is None:
            return PlanCheck(False, "NoSchedule", "the central gave this EVSE no schedule")
        events = [e for e in await self.active_dr_events() if str(e.id) in session.dr_windows]
        profiles = await self._given_profiles(session, events)
        given = ProfileStack()
        for profile in profiles:
            given.install(profile)
        excess = planner.first_excess(given, plan, session.ev_voltage_v or NOMINAL_VOLTAGE_V,
                                      session.ev_phases)
        if excess is None:
            return PlanCheck(True)
        at, planned_w, allowed_w = excess
        log.warning("EV plan exceeds the schedule", extra={
            "station": station_id, "transaction": session.transaction_id, "at": to_wire(at),
            "planned_w": planned_w, "allowed_w": allowed_w})
        return PlanCheck(False, "ExceedsLimits", f"the EV plans {planned_w} W at "
                         f"{to_wire(at)}, above the {allowed_w} W it was given", profiles)

    async def dr_overlays(self, event: demand.DrEvent,
                          ) -> list[tuple[str, int, ChargingProfile]]:
        """(station, EVSE, overlay profile) for every planned live session in scope."""
        overlays = []
        async with self.store.unit():
            for session in await self.store.live_sessions():
                if session.schedule and session.premise_id and \
                        demand.applies_to(event, session.station_id, session.premise_id):
                    session.dr_windows[str(event.id)] = self._window(session, event)
                    overlays.append((session.station_id, session.evse_id or 1,
                                     _overlay_profile(session, event)))
                    await self.store.save_session(session)
        log.info("DR event applied", extra={"event": event.id, "scope": event.scope,
                                            "sessions": len(overlays)})
        self.bus.publish("dr.applied", event=event.id, description=event.describe(),
                         start=to_wire(event.start), end=to_wire(event.end),
                         stations=sorted({station for station, _, _ in overlays}))
        return overlays

    async def dr_cancel(self, event: demand.DrEvent) -> list[tuple[str, int]]:
        """Cancel now; (station, overlay id) to clear for the live sessions it covered."""
        now = self.clock.now()
        await self.store.mark_dr_cancelled(event.id, now)
        cleared = []
        async with self.store.unit():
            for session in await self.store.live_sessions():
                window = session.dr_windows.get(str(event.id))
                if window is None:
                    continue
                assert session.id is not None
                window["to"] = to_wire(max(parse_timestamp(window["from"]),
                                           min(parse_timestamp(window["to"]), now)))
                cleared.append((session.station_id, demand.overlay_id(event, session.id)))
                await self.store.save_session(session)
        log.info("DR event cancelled", extra={"event": event.id, "sessions": len(cleared)})
        self.bus.publish("dr.cancelled", event=event.id, at=to_wire(now))
        return cleared


def _refuse(session: Session, refusal: Refusal, identifiers: tuple[Identifier, ...],
            premise: Premise) -> None:
    """The session's binding refused: kept with the PEV presented, never billed."""
    session.status = "refused"
    session.refusal = refusal.reason
    session.id_token = identifiers[0].id_token
    session.pev_id = refusal.pev_id or identifiers[0].id_token
    session.premise_id = premise.id


def _keep_running_cost(session: Session, samples: tuple[MeterSample, ...],
                       watched: bool) -> datetime | None:
    """This event's EUMD readings into the session's kept running cost, if it has one
    (one that cannot take them is dropped, to be rated again). The newest reading's time
    when the cost is due to be shown, or to be rated for a watcher; else None. (Every
    meter value passes here: no coroutine, no Reading made.)"""
    newest = None
    running = session.running_cost
    for sample in samples:
        at, register = sample.timestamp, sample.register_wh
        if register is None:
            continue
        if running is not None and not running.add(at, register):
            running = session.running_cost = None
        if newest is None or at > newest:
            newest = at
    if newest is None or (session.cost_due is not None and newest < session.cost_due
                          and (running is not None or not watched)):
        return None
    return newest


def _flag(session: Session, problem: str) -> bool:
    """Note a problem with the session's data; False if it was noted before."""
    if problem in session.problems:
        return False
    session.problems.append(problem)
    log.warning("session data flagged", extra={"station": session.station_id,
                                               "transaction": session.transaction_id,
                                               "problem": problem})
    return True


def _overlay_profile(session: Session, event: demand.DrEvent) -> ChargingProfile:
    """A DR event's overlay on a planned session's normal schedule, as a profile."""
    assert session.id is not None
    begin, end, limits = demand.overlay(event, session.station_id, schedule_of(session))
    return ChargingProfile(demand.overlay_id(event, session.id), demand.DR_STACK_LEVEL, limits,
                           valid_from=begin, valid_to=end,
                           transaction_id=session.transaction_id)


def schedule_of(session: Session) -> Schedule:
    """The session's normal schedule as planned."""
    assert session.schedule is not None
    return Schedule(parse_timestamp(session.schedule["start"]),
                    tuple((offset, limit) for offset, limit in session.schedule["periods"]))


def randomized_delay(session: Session, upper_s: int) -> int:
    """0..upper_s seconds, drawn once per session and reproducible from its ids."""
    if upper_s <= 0:
        return 0
    seed = hashlib.sha256(f"{session.station_id}/{session.transaction_id}".encode()).digest()
    return int.from_bytes(seed[:8], "big") % (upper_s + 1)
