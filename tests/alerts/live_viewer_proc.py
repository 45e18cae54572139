"""A live-view viewer as a process of its own, for the test of a viewer that vanishes (not a test module itself).

Prints its WebRTC offer as one JSON line, reads the answer as one JSON line on stdin, then prints "frame" once it
has received its first video frame and keeps receiving until it is killed: a SIGKILL leaves the desk's peer
without a DTLS close alert, as a crashed tab or a dropped network would.
"""

from __future__ import annotations

import asyncio
import json
import sys

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription


async def main() -> None:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("video", direction="recvonly")
    first = asyncio.Event()

    @pc.on("track")
    def _track(track) -> None:
        async def pull() -> None:
            while True:
                await track.recv()
                first.set()

        asyncio.ensure_future(pull())

    await pc.setLocalDescription(await pc.createOffer())
    print(json.dumps({"sdp": pc.localDescription.sdp, "type": pc.localDescription.type}), flush=True)
    answer = json.loads(await asyncio.to_thread(sys.stdin.readline))
    await pc.setRemoteDescription(RTCSessionDescription(**answer))
    await first.wait()
    print("frame", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
