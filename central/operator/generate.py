"""A synthetic registry for demos and load tests.

N premises, each with an account, a station and a home PEV. Every fifth premise pays for
its guests (L2-A); every fourth station is an energy portal; PEVs alternate between the
economy and the flex program. Passwords are random and written in clear because the
simulated fleet needs them: keep the file private.
"""

from __future__ import annotations

import secrets

HEADER = '''# Synthetic registry written by `pev-central registry generate` (illustrative prices).
# Station passwords are in clear for the simulated fleet: keep this file private.

[utility]
name = "Synthetic Power (illustrative)"
timezone = "America/Los_Angeles"
currency = "USD"

[[tariffs]]
id = "ev-tou"
name = "EV TOU (illustrative)"
illustrative = true
periods = [
  { name = "off-peak", start = "00:00", end = "15:00", price = "0.28" },
  { name = "partial-peak", start = "15:00", end = "16:00", price = "0.40" },
  { name = "peak", start = "16:00", end = "21:00", price = "0.42" },
  { name = "partial-peak", start = "21:00", end = "24:00", price = "0.40" },
]

[[tariffs]]
id = "home-tou"
name = "Residential TOU (illustrative)"
illustrative = true
periods = [
  { name = "off-peak", start = "00:00", end = "16:00", price = "0.31" },
  { name = "peak", start = "16:00", end = "21:00", price = "0.49" },
  { name = "off-peak", start = "21:00", end = "24:00", price = "0.31" },
]

[[programs]]
id = "ev-economy"
name = "EV Economy"
tariff = "ev-tou"
economy = true
max_power_w = 7200
randomized_delay_s = 600

[[programs]]
id = "ev-flex"
name = "EV Flex"
tariff = "ev-tou"
economy = false
max_power_w = 11000
'''


def synthetic_registry(premises: int, territory: str = "synthetic-north") -> str:
    if premises < 1:
        raise ValueError("at least one premise")
    parts = [HEADER]
    for n in range(1, premises + 1):
        host_pays = n % 5 == 0
        portal = n % 4 == 0
        parts.append(f'''
[[accounts]]
id = "A-{n:05d}"
name = "Customer {n}"

[[premises]]
id = "P-{n:05d}"
account = "A-{n:05d}"
territory = "{territory}"
rate_plan = "home-tou"
service_limit_w = 9600
guest_policy = "{'host_pays' if host_pays else 'driver_pays'}"

[[stations]]
id = "CP-{n:05d}"
premise = "P-{n:05d}"
kind = "{'portal' if portal else 'evse'}"
eumd_serial = "EUMD-{n:06d}"
max_power_w = {3600 if portal else 7200}
password = "{secrets.token_urlsafe(18)}"

[[pevs]]
id = "PEV-{n:05d}"
owner = "A-{n:05d}"
home_premise = "P-{n:05d}"
program = "{'ev-economy' if n % 2 else 'ev-flex'}"
territory = "{territory}"
''')
    return "".join(parts)
