"""Live view of a camera in the browser over WebRTC (aiortc).

One upstream reader per camera (aiortc's MediaPlayer on PyAV), fanned out to every viewer with a
MediaRelay, so ten auditors watching one camera open one RTSP session, not ten. Peers use no STUN/TURN
servers: the review desk and its viewers share a network (the centre's LAN, or loopback in tests).
"""

from __future__ import annotations

import asyncio
import logging

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaPlayer, MediaRelay

log = logging.getLogger(__name__)


class LiveHub:
    def __init__(self, sources: dict[str, str]) -> None:
        self._sources = dict(sources)  # camera id -> URL (may hold credentials: never shown)
        self._players: dict[str, MediaPlayer] = {}
        self._relay = MediaRelay()
        self._peers: set[RTCPeerConnection] = set()

    def has(self, camera_id: str) -> bool:
        return camera_id in self._sources

    def _player(self, camera_id: str) -> MediaPlayer:
        player = self._players.get(camera_id)
        if player is None or player.video is None or player.video.readyState == "ended":
            url = self._sources[camera_id]
            options = {"rtsp_transport": "tcp"} if url.startswith("rtsp") else {}
            # Files play at their own pace (`loop` keeps a demo clip going); streams are already live.
            is_file = "://" not in url
            player = MediaPlayer(url, options=options, loop=is_file, decode=True)
            self._players[camera_id] = player
        return player

    async def answer(self, camera_id: str, sdp: str, kind: str) -> RTCSessionDescription:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self._peers.add(pc)

        @pc.on("connectionstatechange")
        async def _state() -> None:
            if pc.connectionState in ("failed", "closed"):
                await pc.close()
                self._peers.discard(pc)

        player = self._player(camera_id)
        pc.addTrack(self._relay.subscribe(player.video))
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type=kind))
        await pc.setLocalDescription(await pc.createAnswer())
        return pc.localDescription

    async def close(self) -> None:
        await asyncio.gather(*(pc.close() for pc in list(self._peers)), return_exceptions=True)
        self._peers.clear()
        for player in self._players.values():
            if player.video is not None:
                player.video.stop()
        self._players.clear()
