"""The ceiling: a plain websockets server that sends every frame straight back, on the
same event loop (uvloop where installed) and with the same negotiated compression as the
central, so that the two differ only in what the central does with a message. The load
generator matches a reply by its message id, so an echoed CALL counts as an answer."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from central.protocol.compression import COMPRESSION
from shared.eventloop import run


async def echo(connection: ServerConnection) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for message in connection:
            await connection.send(message)


async def main_async(port: int) -> None:
    async with serve(echo, "127.0.0.1", port, subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
                     ping_interval=None, max_size=2**20,
                     compression=None, extensions=[COMPRESSION]) as server:
        print(f"listening on ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/ocpp",
              flush=True)
        await asyncio.Future()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    run(main_async(args.port))


if __name__ == "__main__":
    main()
