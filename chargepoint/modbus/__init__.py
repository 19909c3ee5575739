"""Modbus for hardware-backed stations: register maps (`registers`) and the device link
(`link`) that the EUMD and EVSE controller backends share."""
