// Live view: offer to receive one video track, send the offer with the CSRF token, play the answer.
(async () => {
  const video = document.getElementById("live");
  const status = document.getElementById("live-status");
  // The words come from the page (its language); data-state keeps the machine-readable state for scripts.
  const show = (state, extra) => {
    status.dataset.state = state;
    status.textContent = (status.dataset[state] || state) + (extra ? " " + extra : "");
  };
  const pc = new RTCPeerConnection({ iceServers: [] });
  window.livePeer = pc;
  // Closing the peer tells the desk at once (a DTLS close alert) that this viewer left, so it can stop the
  // camera's decoder; a page that dies without this goes quiet, and the desk gives up on it after a few seconds.
  window.addEventListener("pagehide", () => pc.close());
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.ontrack = (event) => { video.srcObject = event.streams[0] || new MediaStream([event.track]); };
  pc.onconnectionstatechange = () => { if (pc.connectionState === "failed") show("failed"); };
  video.onplaying = () => { show("playing"); };
  await pc.setLocalDescription(await pc.createOffer());
  // Wait for ICE gathering so the offer carries its candidates (no trickle endpoint).
  await new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") return resolve();
    pc.onicegatheringstatechange = () => { if (pc.iceGatheringState === "complete") resolve(); };
  });
  const response = await fetch(video.dataset.offerUrl, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": video.dataset.csrf },
    body: JSON.stringify({ sdp: pc.localDescription.sdp, type: pc.localDescription.type }),
  });
  if (!response.ok) {
    // A refusal for too many views is JSON whose `detail` is in the reader's language; other errors are
    // pages (not JSON): their status code is shown.
    const body = await response.json().catch(() => ({}));
    pc.close();
    show("refused", typeof body.detail === "string" ? body.detail : String(response.status));
    return;
  }
  await pc.setRemoteDescription(await response.json());
})();
// For tests and the curious: frames decoded so far.
window.liveFramesDecoded = async () => {
  if (!window.livePeer) return 0;
  const stats = await window.livePeer.getStats();
  let frames = 0;
  stats.forEach((s) => { if (s.type === "inbound-rtp" && s.kind === "video") frames = s.framesDecoded || 0; });
  return frames;
};
