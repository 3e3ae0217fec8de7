// Stand-in for node-datachannel (see package.json). Importing it works, so packages that import
// WebRTC at load time (webtorrent through simple-peer and webrtc-polyfill) load in Node; using it
// throws, so nothing can silently pretend to have WebRTC.
function unavailable (what) {
  throw new Error(`node-datachannel is stubbed in this repository (see interop/tracker/node-datachannel-stub): ${what} is unavailable`)
}

export class PeerConnection { constructor () { unavailable('PeerConnection') } }
export class RtcpReceivingSession { constructor () { unavailable('RtcpReceivingSession') } }
export class Video { constructor () { unavailable('Video') } }
export class Audio { constructor () { unavailable('Audio') } }
export function cleanup () {}

export default { PeerConnection, RtcpReceivingSession, Video, Audio, cleanup }
