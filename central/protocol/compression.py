"""RFC 7692 compression as the central offers it (OCPP-J 2.0.1 3.3: a CSMS must).

Without context takeover each message is compressed alone, so an idle connection holds no
zlib state (websockets creates it per message then): OCPP messages are a few hundred
bytes, and a history of earlier ones would gain little. Small windows keep that
per-message state small too.

A fresh zlib stream costs ~15 us per message and shrinks a reply of a few dozen bytes by
nothing worth it, so messages under MIN_COMPRESSED_BYTES go out plain: RFC 7692 lets a
sender leave any message uncompressed (RSV1 unset), and the `ws` library for Node does the
same below 1 KiB. What the stations send is decompressed whatever its size.
"""

from __future__ import annotations

from collections.abc import Sequence

from websockets.extensions.base import Extension
from websockets.extensions.permessage_deflate import (
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import CONT, CTRL_OPCODES, Frame
from websockets.typing import ExtensionParameter

MIN_COMPRESSED_BYTES = 1024


class SmallMessagesPlain(PerMessageDeflate):
    """permessage-deflate that sends messages under MIN_COMPRESSED_BYTES uncompressed."""

    def __init__(self, negotiated: PerMessageDeflate) -> None:
        super().__init__(negotiated.remote_no_context_takeover,
                         negotiated.local_no_context_takeover,
                         negotiated.remote_max_window_bits, negotiated.local_max_window_bits,
                         negotiated.compress_settings)
        self._plain = False  # the message being sent goes out plain (its continuations too)

    def encode(self, frame: Frame) -> Frame:
        if frame.opcode in CTRL_OPCODES:
            return frame
        if frame.opcode is not CONT:
            self._plain = len(frame.data) < MIN_COMPRESSED_BYTES
        return frame if self._plain else super().encode(frame)


class CompressionOffer(ServerPerMessageDeflateFactory):
    """Negotiates as websockets does, then sends small messages plain."""

    def process_request_params(
        self, params: Sequence[ExtensionParameter], accepted_extensions: Sequence[Extension],
    ) -> tuple[list[ExtensionParameter], SmallMessagesPlain]:
        response, negotiated = super().process_request_params(params, accepted_extensions)
        return response, SmallMessagesPlain(negotiated)


COMPRESSION = CompressionOffer(server_no_context_takeover=True, client_no_context_takeover=True,
                               server_max_window_bits=9, client_max_window_bits=9,
                               compress_settings={"memLevel": 1})
