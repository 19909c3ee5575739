"""EUMD backends: the end-use measurement device whose register is the billing truth.

`simulated` keeps a register the simulated EVSE adds to; `modbus` reads a real meter
(TCP or RTU) through a register map.
"""

from chargepoint.meter.base import Eumd, MeterReading
from chargepoint.meter.simulated import SimulatedEumd

__all__ = ["Eumd", "MeterReading", "SimulatedEumd"]
