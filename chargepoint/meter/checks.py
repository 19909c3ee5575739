"""Is a meter reading believable? Pure checks against the last good one.

An import register never goes backwards and cannot grow faster than the station can
deliver; NaN and infinities are not readings. A refused reading is never replaced by a
guess: the interval is reported with what is known, and the next good reading carries
the energy.
"""

from __future__ import annotations

import math
from datetime import datetime

from chargepoint.meter.base import MeterReading

JUMP_MARGIN = 1.5  # a register may grow up to this times the station's maximum power...
JUMP_SLACK_WH = 20  # ...plus a register step or two


def refusal(reading: MeterReading, at: datetime, last: tuple[datetime, int] | None,
            max_power_w: int) -> str | None:
    """Why `reading` (taken at `at`) cannot be used, or None when it can."""
    values = [reading.energy_wh, reading.power_w, reading.voltage_v, reading.current_a]
    if any(v is not None and not math.isfinite(v) for v in values):
        return "not a number"
    if reading.energy_wh < 0:
        return f"negative register {reading.energy_wh} Wh"
    if last is None:
        return None
    last_at, last_wh = last
    register = round(reading.energy_wh)
    if register < last_wh:
        return f"register went backwards from {last_wh} to {register} Wh"
    hours = max(0.0, (at - last_at).total_seconds()) / 3600
    possible = max_power_w * hours * JUMP_MARGIN + JUMP_SLACK_WH
    if register - last_wh > possible:
        return (f"impossible jump of {register - last_wh} Wh in {hours * 60:.1f} min "
                f"(at most {possible:.0f} Wh at {max_power_w} W)")
    return None
