"""OCPP security profiles, per station in the registry: 1 Basic auth over ws, 2 TLS + Basic
auth, 3 mutual TLS with the certificate's CN as the station id. A station is refused on a
weaker profile than its own. Certificates are made here, at test time (trustme)."""

import asyncio
import dataclasses
import json
import signal
import ssl
from types import SimpleNamespace

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from websockets.exceptions import InvalidMessage, InvalidStatus

from central.domain.certificates import StationCa
from central.store import SqliteStore
from tests.faults.processes import start_central
from tests.helpers import example_registry
from tests.integration.conftest import (
    EVENING,
    PASSWORDS,
    finished,
    free_port,
    open_link,
    pev_central,
    rpc,
    run_agent,
    running_central,
    start_agent,
    tonight,
)

PROFILES = {"CP-1001": 1, "CP-1002": 2, "CP-1003": 3}


def registry_with_profiles():
    registry = example_registry()
    stations = tuple(dataclasses.replace(
        s, security_profile=PROFILES[s.id],
        password_hash="" if PROFILES[s.id] == 3 else s.password_hash)
        for s in registry.stations)
    return dataclasses.replace(registry, stations=stations)


@pytest.fixture
def pki(tmp_path):
    """A utility CA, the central's certificate, station certificates, and a stranger's."""
    ca, stranger = trustme.CA(), trustme.CA()
    files = SimpleNamespace(dir=tmp_path)

    def write(name, blob):
        path = tmp_path / name
        blob.write_to_path(str(path))
        return path

    files.ca = write("ca.pem", ca.cert_pem)
    files.ca_key = write("ca.key", ca.private_key_pem)
    server = ca.issue_cert("127.0.0.1", "localhost")
    files.server_cert = write("server.pem", server.cert_chain_pems[0])
    files.server_key = write("server.key", server.private_key_pem)
    files.leaf = {}  # (certificate, key) files by holder; the stranger claims CP-1003
    for name, issuer in (("CP-1003", ca), ("CP-1002", ca), ("stranger", stranger)):
        leaf = issuer.issue_cert(f"{name.lower()}.stations.test", common_name="CP-1003"
                                 if name == "stranger" else name)
        files.leaf[name] = (write(f"{name}.pem", leaf.cert_chain_pems[0]),
                            write(f"{name}.key", leaf.private_key_pem))
    files.server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.configure_cert(files.server_tls)
    ca.configure_trust(files.server_tls)
    files.server_tls.verify_mode = ssl.CERT_OPTIONAL
    return files


def client_tls(pki, station=None):
    context = ssl.create_default_context(cafile=str(pki.ca))
    if station:
        context.load_cert_chain(*pki.leaf[station])
    return context


async def refusal(central, station, **kwargs):
    with pytest.raises(InvalidStatus) as refused:
        await open_link(central, station, **kwargs)
    return refused.value.response.status_code, refused.value.response.body.decode()


async def answered(central, station, **kwargs):
    link = await open_link(central, station, **kwargs)
    assert link.subprotocol in kwargs.get("subprotocols", ["ocpp2.0.1"])
    reply = await rpc(link, "Heartbeat", {})
    await link.close()
    return reply[0] == 3


# the same security profiles whatever the OCPP version (for 1.6, the security whitepaper's)
VERSIONS = pytest.mark.parametrize("ocpp", [["ocpp2.0.1"], ["ocpp1.6"], ["ocpp2.1"]],
                                   ids=lambda offered: offered[0])


@VERSIONS
async def test_profile_2_needs_tls_and_the_password(tmp_path, pki, ocpp):
    for name in ("tls", "plain"):
        (tmp_path / name).mkdir()
    async with running_central(tmp_path / "tls", registry=registry_with_profiles(),
                               tls=pki.server_tls) as central:
        assert await answered(central, "CP-1002", tls=client_tls(pki), subprotocols=ocpp)
        assert (await refusal(central, "CP-1002", password="not-the-password-1",
                              tls=client_tls(pki), subprotocols=ocpp))[0] == 401
        # stronger is fine
        assert await answered(central, "CP-1001", tls=client_tls(pki), subprotocols=ocpp)
    async with running_central(tmp_path / "plain", registry=registry_with_profiles()) as plain:
        status, body = await refusal(plain, "CP-1002", subprotocols=ocpp)
        assert status == 403 and "security profile 2" in body
        assert await answered(plain, "CP-1001", subprotocols=ocpp)


@VERSIONS
async def test_profile_3_is_known_by_its_client_certificate(tmp_path, pki, ocpp):
    async with running_central(tmp_path, registry=registry_with_profiles(),
                               tls=pki.server_tls) as central:
        assert await answered(central, "CP-1003", password="", tls=client_tls(pki, "CP-1003"),
                              subprotocols=ocpp)
        status, body = await refusal(central, "CP-1003", tls=client_tls(pki),  # password only
                                     subprotocols=ocpp)
        assert status == 401 and "client certificate" in body
        status, _ = await refusal(central, "CP-1003", password="",
                                  tls=client_tls(pki, "CP-1002"),  # another station's
                                  subprotocols=ocpp)
        assert status == 403
        # Signed by a CA the utility does not trust: the handshake fails (with TLS 1.3 the
        # client only learns it when the server drops the connection).
        with pytest.raises((ssl.SSLError, InvalidMessage)):
            await open_link(central, "CP-1003", password="", tls=client_tls(pki, "stranger"),
                            subprotocols=ocpp)
        # still serving
        assert await answered(central, "CP-1002", tls=client_tls(pki), subprotocols=ocpp)


async def test_a_profile_3_agent_charges_and_is_billed_over_mutual_tls(tmp_path, pki):
    async with running_central(tmp_path, registry=registry_with_profiles(),
                               tls=pki.server_tls) as central:
        run = await run_agent(central, "CP-1003", "--pev", "PEV-0003", "--energy-wh", "2000",
                              "--plug-in-at", tonight("20:30"), "--departure", "22:00",
                              "--max-power-w", "3600", "--ca-cert", str(pki.ca),
                              "--client-cert", str(pki.leaf["CP-1003"][0]),
                              "--client-key", str(pki.leaf["CP-1003"][1]),
                              password="", state_dir=tmp_path / "cp")
        assert run.returncode == 0, run.stderr
        [session] = await central.store.sessions()
        assert session.energy_wh == 2000 and session.complete


def signing_request(station: str, key: ec.EllipticCurvePrivateKey) -> str:
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, station),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Charging")])).sign(
        key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode()


async def test_a_profile_3_station_renews_its_certificate_and_connects_with_the_new_one(
        tmp_path, pki):
    """OCPP A02: SignCertificate with a CSR, Accepted, then CertificateSigned with a chain
    the utility's CA signed, which opens the station's next mutual-TLS connection."""
    async with running_central(tmp_path, registry=registry_with_profiles(),
                               tls=pki.server_tls,
                               station_ca=StationCa.load(pki.ca, pki.ca_key)) as central:
        key = ec.generate_private_key(ec.SECP256R1())
        link = await open_link(central, "CP-1003", password="", tls=client_tls(pki, "CP-1003"))
        reply = await rpc(link, "SignCertificate", {
            "csr": signing_request("CP-1003", key),
            "certificateType": "ChargingStationCertificate"})
        assert reply[2] == {"status": "Accepted"}
        _, message_id, action, signed = json.loads(await asyncio.wait_for(link.recv(), 5))
        assert action == "CertificateSigned"
        assert signed["certificateType"] == "ChargingStationCertificate"
        await link.send(json.dumps([3, message_id, {"status": "Accepted"}]))
        await link.close()

        leaf, issuer = x509.load_pem_x509_certificates(signed["certificateChain"].encode())
        assert issuer.public_bytes(serialization.Encoding.PEM) == pki.ca.read_bytes()
        leaf.verify_directly_issued_by(issuer)
        assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "CP-1003"
        assert leaf.public_key() == key.public_key()
        (tmp_path / "new.pem").write_text(signed["certificateChain"])
        (tmp_path / "new.key").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        renewed = ssl.create_default_context(cafile=str(pki.ca))
        renewed.load_cert_chain(tmp_path / "new.pem", tmp_path / "new.key")
        assert await answered(central, "CP-1003", password="", tls=renewed)


@pytest.mark.parametrize(("csr_of", "certificate_type", "with_ca", "reason"), [
    ("CP-1002", "ChargingStationCertificate", True, "common name must be this station"),
    (None, "ChargingStationCertificate", True, "not a PEM certificate signing request"),
    ("CP-1001", "V2GCertificate", True, "V2G PKI"),
    ("CP-1001", "ChargingStationCertificate", False, "no CA to sign"),
])
async def test_a_signing_request_the_central_cannot_grant_is_rejected_with_why(
        tmp_path, pki, csr_of, certificate_type, with_ca, reason):
    csr = signing_request(csr_of, ec.generate_private_key(ec.SECP256R1())) if csr_of \
        else "-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEgQ1NS\n-----END CERTIFICATE REQUEST-----"
    async with running_central(tmp_path, station_ca=StationCa.load(pki.ca, pki.ca_key)
                               if with_ca else None) as central:
        link = await open_link(central, "CP-1001")
        reply = await rpc(link, "SignCertificate", {"csr": csr,
                                                    "certificateType": certificate_type})
        assert reply[2]["status"] == "Rejected"
        assert reason in reply[2]["statusInfo"]["additionalInfo"]
        with pytest.raises(TimeoutError):  # and no CertificateSigned follows
            await asyncio.wait_for(link.recv(), 0.5)
        await link.close()


async def test_an_untrusted_central_certificate_is_refused_by_the_agent_with_exit_2(
        tmp_path, pki):
    async with running_central(tmp_path, registry=registry_with_profiles(),
                               tls=pki.server_tls) as central:
        run = await run_agent(central, "CP-1002", "--pev", "PEV-0002", "--ca-cert",
                              str(pki.leaf["stranger"][0]), state_dir=tmp_path / "cp")
    assert run.returncode == 2 and "not trusted" in run.stderr


async def test_no_password_token_or_key_appears_in_any_log(tmp_path, pki):
    db, log = tmp_path / "central.db", tmp_path / "central.log"
    store = await SqliteStore.open(db)
    await store.import_registry(registry_with_profiles())
    await store.close()
    port = free_port()
    central = await start_central(db, port, EVENING, log, 3000,
                                  "--tls-cert", str(pki.server_cert), "--tls-key",
                                  str(pki.server_key), "--tls-ca", str(pki.ca),
                                  "--log-level", "DEBUG")
    url = f"wss://127.0.0.1:{port}/ocpp"
    try:
        agent = await start_agent(url, "CP-1002", "--pev", "PEV-0002", "--energy-wh", "2000",
                                  "--plug-in-at", tonight("20:30"), "--departure", "21:30",
                                  "--ca-cert", str(pki.ca), "--log-level", "DEBUG",
                                  state_dir=tmp_path / "cp", speed=3000)
        wrong = await start_agent(url, "CP-1001", "--ca-cert", str(pki.ca),
                                  password="a-wrong-password-123", state_dir=tmp_path / "w")
        runs = await asyncio.gather(finished(agent), finished(wrong))
    finally:
        central.send_signal(signal.SIGTERM)
        await central.wait()
    assert [r.returncode for r in runs] == [0, 2], runs[0].stderr + runs[1].stderr
    text = log.read_text() + "".join(r.stderr for r in runs)
    assert any(json.loads(line)["msg"] == "refused: authentication"
               for line in log.read_text().splitlines())
    key_body = pki.server_key.read_text().splitlines()[1]
    secrets = [*PASSWORDS.values(), "a-wrong-password-123", "fault-test-token-0123456789",
               key_body, "PRIVATE KEY"]
    assert [s for s in secrets if s in text] == []


@pytest.mark.parametrize(("options", "message"), [
    (["--tls-cert", "server.pem"], "--tls-cert needs --tls-key"),
    (["--tls-ca", "ca.pem"], "need --tls-cert"),
    (["--tls-cert", "missing.pem", "--tls-key", "server.key"], "cannot load the TLS"),
    (["--tls-cert", "server.key", "--tls-key", "server.key"], "cannot load the TLS"),
    (["--tls-cert", "server.pem", "--tls-key", "server.key", "--tls-ca-key", "ca.key"],
     "--tls-ca-key needs --tls-ca"),
    (["--tls-cert", "server.pem", "--tls-key", "server.key", "--tls-ca", "ca.pem",
      "--tls-ca-key", "server.key"], "not the key of the CA certificate"),
])
async def test_a_bad_tls_option_is_a_clear_exit_2(pki, options, message):
    code, _, err = await pev_central("serve", "--db", str(pki.dir / "central.db"),
                                     *[str(pki.dir / o) if not o.startswith("-") else o
                                       for o in options])
    assert code == 2 and message in err
    assert not (pki.dir / "central.db").exists()
