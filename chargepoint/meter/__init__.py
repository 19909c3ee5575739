"""EUMD backends: the end-use measurement device whose register is the billing truth."""

from chargepoint.meter.simulated import SimulatedEumd

__all__ = ["SimulatedEumd"]
