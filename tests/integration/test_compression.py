"""RFC 7692 compression (OCPP-J 2.0.1 3.3): offered, compressed frames from a station
understood, small replies sent plain and large messages compressed."""

import json
from collections.abc import Sequence

from websockets.extensions.base import Extension
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
)
from websockets.frames import CONT, TEXT, Frame
from websockets.typing import ExtensionParameter

from central.protocol.compression import COMPRESSION, MIN_COMPRESSED_BYTES
from tests.integration.conftest import open_link


class Recording(PerMessageDeflate):
    """A station's side of the extension that notes whether each frame came compressed."""

    received: list[bool]

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        if frame.opcode == TEXT:
            self.received.append(frame.rsv1)
        return super().decode(frame, max_size=max_size)


class RecordingOffer(ClientPerMessageDeflateFactory):
    def __init__(self) -> None:
        super().__init__(client_max_window_bits=True)
        self.extension: Recording | None = None

    def process_response_params(self, params: Sequence[ExtensionParameter],
                                accepted_extensions: Sequence[Extension]) -> Recording:
        n = super().process_response_params(params, accepted_extensions)
        self.extension = Recording(n.remote_no_context_takeover, n.local_no_context_takeover,
                                   n.remote_max_window_bits, n.local_max_window_bits)
        self.extension.received = []
        return self.extension


async def test_a_compressing_station_is_understood_and_answered_plain(central):
    offer = RecordingOffer()
    async with await open_link(central, compression=None, extensions=[offer]) as link:
        assert link.response.headers["Sec-WebSocket-Extensions"].startswith(
            "permessage-deflate")
        # a BootNotification with a long model name: compressed by the station
        boot = {"chargingStation": {"vendorName": "acme", "model": "x1" * 10,
                                    "firmwareVersion": "1.0.0" * 4}, "reason": "PowerUp"}
        await link.send(json.dumps([2, "b1", "BootNotification", boot]))
        reply = json.loads(await link.recv())
        assert reply[:2] == [3, "b1"] and reply[2]["status"] == "Accepted"
        await link.send(json.dumps([2, "h1", "Heartbeat", {}]))
        assert json.loads(await link.recv())[:2] == [3, "h1"]
    assert offer.extension is not None
    assert offer.extension.received == [False, False]  # replies of a few dozen bytes


def station_side() -> PerMessageDeflate:
    """The decoder a station ends up with when it accepts the central's offer."""
    params, _ = COMPRESSION.process_request_params(
        [("client_max_window_bits", None)], [])
    return ClientPerMessageDeflateFactory(client_max_window_bits=True) \
        .process_response_params(params, [])


def central_side() -> PerMessageDeflate:
    _, extension = COMPRESSION.process_request_params([("client_max_window_bits", None)], [])
    return extension


def test_a_large_message_is_compressed_and_decodes_back():
    text = json.dumps({"chargingSchedule": [{"startPeriod": n * 900, "limit": 7200.0}
                                            for n in range(96)]}).encode()
    assert len(text) > MIN_COMPRESSED_BYTES
    frame = central_side().encode(Frame(TEXT, text))
    assert frame.rsv1 and len(frame.data) < len(text) / 2
    assert station_side().decode(frame).data == text


def test_a_fragmented_message_is_sent_plain_or_compressed_as_a_whole():
    sender, receiver = central_side(), station_side()
    short_first = [Frame(TEXT, b'{"a": ', fin=False), Frame(CONT, b"1" * 2000)]
    sent = [sender.encode(frame) for frame in short_first]
    assert not any(frame.rsv1 for frame in sent)
    assert b"".join(receiver.decode(frame).data for frame in sent) == b'{"a": ' + b"1" * 2000

    long_first = [Frame(TEXT, b"[" + b"2, " * 400, fin=False), Frame(CONT, b"2]")]
    sent = [sender.encode(frame) for frame in long_first]
    assert sent[0].rsv1 and not sent[1].rsv1  # RSV1 only on a compressed message's first
    assert b"".join(receiver.decode(frame).data for frame in sent) == \
        b"[" + b"2, " * 400 + b"2]"
