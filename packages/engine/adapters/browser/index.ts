/** Browser adapters: OPFS files, IndexedDB / chrome.storage session stores, worker hashing, the page clock.
 *
 * @module @lodestone/engine/adapters/browser
 */
export { OpfsFileSystem, type OpfsFileSystemOptions } from './opfs-filesystem.js'
export { IndexedDBSessionStore } from './indexeddb-session-store.js'
export { ChromeStorageSessionStore, type ChromeStorageArea } from './chrome-storage-session-store.js'
export { BrowserHasher, type BrowserHasherSettings } from './browser-hasher.js'
export { BrowserClock } from './browser-clock.js'
export { WebRtcPeers, withWebRtcPeers, defaultWebRtcPeerSettings, type WebRtcPeerSettings, type WebRtcPeerStats } from './webrtc/webrtc-peers.js'
export { RtcChannelSocket, defaultRtcSocketSettings, type RtcSocketSettings } from './webrtc/rtc-channel-socket.js'
