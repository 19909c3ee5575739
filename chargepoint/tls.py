"""The station's TLS (OCPP security profiles 2 and 3): whom it trusts, and for profile 3
the client certificate it authenticates with."""

from __future__ import annotations

import ssl
from pathlib import Path


def client_context(ca: Path | None = None, cert: Path | None = None,
                   key: Path | None = None) -> ssl.SSLContext:
    """Verify the central against `ca` (default: the system's CAs), TLS 1.2 or above."""
    context = ssl.create_default_context(cafile=ca)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert is not None:
        context.load_cert_chain(cert, key)
    return context
