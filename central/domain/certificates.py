"""Station certificates, signed by the utility's station CA (OCPP 2.0.1 A02 and A03: a
station sends a certificate signing request with SignCertificate; the central checks it,
answers, and sends the signed certificate with CertificateSigned).

Pure but for the CA's files: a request in, a certificate chain (PEM) or the reason it is
refused out. A station may ask only for its own name (the CSR's CN is its station id, as
security profile 3 checks at every connection) and only for its ChargingStationCertificate:
ISO 15118 (V2G) certificates come from the V2G PKI, not from this CA.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: 10-16 MB of a central that signs nothing
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

STATION_CERTIFICATE = "ChargingStationCertificate"
VALIDITY = timedelta(days=365)
CLOCK_SKEW = timedelta(minutes=5)  # valid from a little before now: station clocks drift


class CsrRefused(ValueError):
    """Why a signing request is refused (shown to the station in statusInfo)."""


@dataclass(frozen=True)
class StationCa:
    certificate: x509.Certificate
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey \
        | ed448.Ed448PrivateKey

    @classmethod
    def load(cls, certificate: Path, key: Path) -> StationCa:
        """The CA's certificate and private key (PEM); ValueError if they do not match."""
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

        ca_cert = x509.load_pem_x509_certificate(certificate.read_bytes())
        ca_key = serialization.load_pem_private_key(key.read_bytes(), password=None)
        if not isinstance(ca_key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
                          | ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
            raise ValueError("the CA key is of a kind that cannot sign certificates")
        if ca_key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) \
                != ca_cert.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo):
            raise ValueError("the CA key is not the key of the CA certificate")
        return cls(ca_cert, ca_key)

    def sign(self, station_id: str, csr_pem: str, certificate_type: str | None,
             now: datetime) -> str:
        """The station's new certificate and this CA's, as one PEM chain."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ed448, ed25519
        from cryptography.x509.oid import ExtendedKeyUsageOID

        csr = _checked(station_id, csr_pem, certificate_type or STATION_CERTIFICATE)
        public_key = csr.public_key()
        builder = (x509.CertificateBuilder()
                   .subject_name(csr.subject).issuer_name(self.certificate.subject)
                   .public_key(public_key)
                   .serial_number(int.from_bytes(secrets.token_bytes(16), "big") >> 1)
                   .not_valid_before(now - CLOCK_SKEW).not_valid_after(now + VALIDITY)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
                   .add_extension(x509.KeyUsage(
                       digital_signature=True, key_encipherment=True, key_agreement=False,
                       content_commitment=False, data_encipherment=False, key_cert_sign=False,
                       crl_sign=False, encipher_only=False, decipher_only=False), True)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                                  False)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(
                       public_key), False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                       self.key.public_key()), False))
        algorithm = None if isinstance(self.key, ed25519.Ed25519PrivateKey
                                       | ed448.Ed448PrivateKey) else hashes.SHA256()
        issued = builder.sign(self.key, algorithm)
        return "".join(c.public_bytes(serialization.Encoding.PEM).decode()
                       for c in (issued, self.certificate))


def _checked(station_id: str, csr_pem: str,
             certificate_type: str) -> x509.CertificateSigningRequest:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    if certificate_type != STATION_CERTIFICATE:
        raise CsrRefused(f"this CA signs only the {STATION_CERTIFICATE}; "
                         f"a {certificate_type} comes from the V2G PKI")
    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode())
    except ValueError:
        raise CsrRefused("the CSR is not a PEM certificate signing request") from None
    if not csr.is_signature_valid:
        raise CsrRefused("the CSR's signature does not match its key")
    names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if [name.value for name in names] != [station_id]:
        raise CsrRefused(f"the CSR's common name must be this station's id {station_id!r}")
    return csr
