"""The Modbus link's failures are DeviceErrors saying where: an RTU line that is not
there, a TCP port where nothing listens."""

import pytest

from chargepoint.config import ModbusEndpoint
from chargepoint.modbus.link import DeviceError, ModbusLink
from chargepoint.modbus.registers import METER_MAPS
from tests.integration.conftest import free_port


@pytest.mark.parametrize(("endpoint", "where"), [
    (ModbusEndpoint("rtu", unit=1, serial_port="/dev/no-such-tty", timeout_s=0.2),
     "modbus rtu /dev/no-such-tty unit 1"),
    (ModbusEndpoint("tcp", unit=7, host="127.0.0.1", port=free_port(), timeout_s=0.2),
     "modbus tcp 127.0.0.1:"),
])
async def test_a_device_that_is_not_there_is_a_device_error(endpoint, where):
    link = ModbusLink(endpoint)
    with pytest.raises(DeviceError, match=f"cannot connect to {where}"):
        await link.read(METER_MAPS["sdm630"].energy, "Wh")
    link.close()
