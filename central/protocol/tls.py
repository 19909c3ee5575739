"""The central's TLS (OCPP security profiles 2 and 3): its certificate, and the CA that
signs station certificates when stations may authenticate with one."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any


def server_context(cert: Path, key: Path, client_ca: Path | None = None) -> ssl.SSLContext:
    """TLS 1.2 or above (OCPP A00.FR.312); with `client_ca`, a client certificate is verified
    when offered, so profile 2 and profile 3 stations can share one port."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    if client_ca is not None:
        context.load_verify_locations(client_ca)
        context.verify_mode = ssl.CERT_OPTIONAL
    return context


def client_common_name(ssl_object: Any) -> str | None:
    """The CN of the client certificate TLS verified on this connection, if any."""
    certificate = ssl_object.getpeercert() if ssl_object is not None else None
    for rdn in (certificate or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None
