"""One Modbus device over TCP or RTU: read and write the registers of a map.

The only module that speaks pymodbus. Every failure (no connection, a timeout, an
exception response, a malformed answer) becomes a `DeviceError`; the link reconnects on the
next request, so a device that comes back is used again without a restart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException
from pymodbus.pdu import ModbusPDU

from chargepoint.config import ModbusEndpoint
from chargepoint.modbus.registers import Register, decode, encode

Client = AsyncModbusTcpClient | AsyncModbusSerialClient


class DeviceError(Exception):
    """The device did not give a usable answer."""


class ModbusLink:
    def __init__(self, endpoint: ModbusEndpoint) -> None:
        self.endpoint = endpoint
        self._client: Client | None = None
        self._lock = asyncio.Lock()  # one request at a time on a link

    def _new_client(self) -> Client:
        e = self.endpoint
        # no automatic reconnects or retries: the callers decide when to try again
        if e.transport == "tcp":
            return AsyncModbusTcpClient(e.host, port=e.port, timeout=e.timeout_s,
                                        retries=0, reconnect_delay=0)
        return AsyncModbusSerialClient(e.serial_port, baudrate=e.baudrate, parity=e.parity,
                                       stopbits=e.stopbits, timeout=e.timeout_s, retries=0,
                                       reconnect_delay=0)

    async def _connected(self) -> Client:
        if self._client is not None and self._client.connected:
            return self._client
        self.close()
        client = self._new_client()
        if not await client.connect():
            client.close()
            raise DeviceError(f"cannot connect to {self.endpoint.describe()}")
        self._client = client
        return client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def read(self, register: Register, base_unit: str = "") -> float:
        """One register's value in `base_unit`."""
        def request(client: Client, unit: int) -> Awaitable[ModbusPDU]:
            read = {"input": client.read_input_registers,
                    "holding": client.read_holding_registers,
                    "coil": client.read_coils}[register.kind]
            return read(register.address, count=register.words, device_id=unit)

        response = await self._exchange("reading", register, request)
        words = [int(b) for b in response.bits[:1]] if register.kind == "coil" \
            else list(response.registers)
        try:
            return decode(register, words, base_unit)
        except ValueError as error:
            raise DeviceError(f"{self.endpoint.describe()}: reading {register.kind} "
                              f"{register.address}: {error}") from None

    async def write(self, register: Register, value: float, base_unit: str = "") -> None:
        words = encode(register, value, base_unit)

        def request(client: Client, unit: int) -> Awaitable[ModbusPDU]:
            if register.kind == "coil":
                return client.write_coil(register.address, bool(words[0]), device_id=unit)
            if len(words) == 1:
                return client.write_register(register.address, words[0], device_id=unit)
            return client.write_registers(register.address, words, device_id=unit)

        await self._exchange("writing", register, request)

    async def _exchange(self, what: str, register: Register,
                        request: Callable[[Client, int], Awaitable[ModbusPDU]]) -> ModbusPDU:
        async with self._lock:
            try:
                client = await self._connected()
                response = await asyncio.wait_for(request(client, self.endpoint.unit),
                                                  self.endpoint.timeout_s)
            except (ModbusException, TimeoutError, OSError) as error:
                self.close()  # a fresh connection next time: the device may be back
                raise DeviceError(f"{self.endpoint.describe()}: {what} {register.kind} "
                                  f"{register.address}: {type(error).__name__} {error}"
                                  ) from None
        if response.isError():
            raise DeviceError(f"{self.endpoint.describe()}: {what} {register.kind} "
                              f"{register.address}: exception response {response}")
        return response
