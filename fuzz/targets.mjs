/**
 * Fuzz targets: every parser and state machine that reads foreign bytes (issue 15). Each target
 * has `run(bytes)` (may be async) and `seeds()`: valid inputs built with the engine's own
 * encoders, which the mutator starts from. The invariant the runner checks around `run`: nothing
 * but a typed LodestoneError escapes (and not INTERNAL, the wrapper for untyped throws), within a
 * per-input time limit and bounded memory.
 *
 * Targets import the built engine (packages/engine/dist: `tsc -b` first, as `npm test` does).
 */
import { bencodeDecode, bencodeEncode } from '../packages/engine/dist/src/protocol/bencode.js'
import { parseTorrent } from '../packages/engine/dist/src/metainfo/parse-torrent.js'
import { parseMagnet } from '../packages/engine/dist/src/metainfo/magnet.js'
import { MessageParser, createMessageCollector } from '../packages/engine/dist/src/protocol/message-parser.js'
import * as wire from '../packages/engine/dist/src/protocol/wire-messages.js'
import { encodeHandshake } from '../packages/engine/dist/src/protocol/handshake.js'
import { decodeMetadataMessage, encodeMetadataData, encodeMetadataReject, encodeMetadataRequest } from '../packages/engine/dist/src/protocol/ut-metadata.js'
import { decodePexMessage, encodePexMessage } from '../packages/engine/dist/src/protocol/ut-pex.js'
import { decodeExtendedHandshake, encodeExtendedHandshake } from '../packages/engine/dist/src/protocol/extension-protocol.js'
import { parseAnnounceResponse, parseScrapeResponse } from '../packages/engine/dist/src/tracker/http-tracker.js'
import { parseUdpAnnounceResponse } from '../packages/engine/dist/src/tracker/udp-tracker.js'
import { parseIpFilterList } from '../packages/engine/dist/src/ip-filter/ip-filter-formats.js'
import * as resume from '../packages/engine/dist/src/session/resume-data.js'
import { UtpHeader, parseUtpHeader, writeUtpHeader } from '../packages/engine/dist/src/transport/utp/utp-packet.js'
import { MseHandshake } from '../packages/engine/dist/src/transport/mse/mse-handshake.js'
import { createDhKeyPair, dhSharedSecret } from '../packages/engine/dist/src/transport/mse/dh.js'
import { decodeKrpc, encodeQuery, encodeResponse } from '../packages/engine/dist/src/dht/krpc-codec.js'
import { PeerConnection } from '../packages/engine/dist/src/peer/peer-connection.js'
import { resolvePeerSettings } from '../packages/engine/dist/src/peer/peer-settings.js'
import { Bitfield } from '../packages/engine/dist/src/util/bitfield.js'
import { ManualClock } from '../packages/engine/dist/adapters/memory/manual-clock.js'
import * as bridge from '../packages/engine/dist/adapters/daemon/bridge-protocol.js'

const te = new TextEncoder()
const td = new TextDecoder()
const bytes = (text) => te.encode(text)
const fill = (n, v) => new Uint8Array(n).fill(v)
const HASH = fill(20, 0xab)
const PEER_ID = bytes('-LS0100-abcdefghijkl')
/** Deterministic "random" for the state machines that want an IRandom. */
const fixedRandom = { next: () => 0.5, fill: (b) => b.fill(7) }
const view = (buf) => new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)

function torrentSeeds () {
  const pieces = fill(40, 1)
  const single = { announce: 'http://127.0.0.1:6969/announce', info: { length: 40_000, name: 'a.bin', 'piece length': 32_768, pieces } }
  const multi = {
    'announce-list': [['udp://127.0.0.1:6969'], ['http://127.0.0.1/a']],
    'url-list': ['http://127.0.0.1/ws/'],
    info: { files: [{ length: 10, path: ['d', 'x'] }, { length: 0, path: ['e'], attr: 'p' }, { length: 5, path: ['l'], attr: 'l', 'symlink path': ['d', 'x'] }], name: 'tree', 'piece length': 16_384, pieces: fill(20, 2), private: 1 }
  }
  const v2 = {
    info: {
      'file tree': { 'f.bin': { '': { length: 100, 'pieces root': fill(32, 3) } } },
      'meta version': 2, name: 'v2', 'piece length': 16_384
    },
    'piece layers': {}
  }
  return [single, multi, v2].map((t) => bencodeEncode(t))
}

/** A fixed key pair (from fixedRandom) whose shared secret is computed once per remote public key. */
function cachedKeyExchange () {
  const keys = createDhKeyPair(fixedRandom)
  const cache = new Map()
  return {
    publicKey: keys.publicKey,
    sharedSecret: (remote) => {
      const key = Buffer.from(remote.buffer, remote.byteOffset, remote.byteLength).toString('latin1')
      if (!cache.has(key)) cache.set(key, dhSharedSecret(keys.privateKey, remote))
      return cache.get(key)
    }
  }
}
const MSE_KEYS = cachedKeyExchange()
const mseDeps = { random: fixedRandom, maxPadBytes: 16, keyExchange: MSE_KEYS }
const responder = () => new MseHandshake({ role: 'responder', findSkey: () => HASH, selectCrypto: (p) => p & 2 || p & 1 }, mseDeps)
const initiator = () => new MseHandshake({
  role: 'initiator', skey: HASH, cryptoProvide: 3,
  takeInitialPayload: () => encodeHandshake({ infoHash: HASH, peerId: PEER_ID, features: { extensionProtocol: true, fastExtension: true, dht: false } })
}, mseDeps)
/** Feeds `b` in 200-byte chunks (the stages must resume across chunk boundaries). */
function feed (hs, b) {
  for (let o = 0; o < b.length; o += 200) hs.receive(b.slice(o, o + 200))
}
const concatBytes = (parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) { out.set(p, o); o += p.length }
  return out
}
/** Everything each side sends in a complete handshake between the fixed keys (made once). */
let transcript = null
function mseTranscript () {
  transcript ??= makeMseTranscript()
  return transcript
}
function makeMseTranscript () {
  const i = initiator()
  const r = responder()
  const step1 = i.start()
  const fromResponder = r.receive(step1)
  const fromInitiator = i.receive(concatBytes(fromResponder))
  const more = r.receive(concatBytes(fromInitiator))
  const last = i.receive(concatBytes(more))
  if (!r.done || !i.done) throw new Error('the MSE seed transcript did not complete')
  return { initiatorSent: concatBytes([step1, ...fromInitiator, ...last]), responderSent: concatBytes([...fromResponder, ...more]) }
}

/** A minimal ITcpSocket fed by the target. */
class FuzzSocket {
  remoteAddress = '10.0.0.2'
  remotePort = 51413
  localPort = 6881
  bufferedBytes = 0
  dataCb = null
  closeCb = null
  closed = false
  send () { return !this.closed }
  pause () {}
  resume () {}
  onData (cb) { this.dataCb = cb }
  onDrain () {}
  onClose (cb) { this.closeCb = cb }
  close () { if (!this.closed) { this.closed = true; this.closeCb?.() } }
}

function peerSeeds () {
  const features = { extensionProtocol: true, fastExtension: true, dht: true }
  const hs = encodeHandshake({ infoHash: HASH, peerId: PEER_ID, features })
  const ext = encodeExtendedHandshake({ m: new Map([['ut_metadata', 3], ['ut_pex', 4]]), v: 'x', reqq: 250, p: 6881 })
  return [
    concat(hs, wire.encodeBitfield(fill(3, 0xff).map((b, i) => (i === 2 ? 0xf0 : b))), wire.encodeInterested(), wire.encodeRequest(1, 0, 16_384)),
    concat(hs, wire.encodeHaveAll(), wire.encodeUnchoke(), wire.encodeHave(3), wire.encodeCancel(1, 0, 16_384)),
    concat(hs, wire.encodeHaveNone(), wire.encodeExtended(0, ext), wire.encodeExtended(3, encodeMetadataRequest(0)), wire.encodePiece(0, 0, fill(64, 5)))
  ]
}

function concat (...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) { out.set(p, o); o += p.length }
  return out
}

function utpPacket (type, ext, payload) {
  const buf = new Uint8Array(20 + ext.length + payload.length)
  writeUtpHeader(buf, 0, type, ext.length > 0 ? 1 : 0, 1234, 1_000_000, 500, 65_536, 10, 9)
  buf.set(ext, 20)
  buf.set(payload, 20 + ext.length)
  return buf
}

const trackerSettings = { maxPeersPerResponse: 200 }

export const TARGETS = {
  bencode: {
    run: (b) => { bencodeDecode(b) },
    seeds: () => [...torrentSeeds(), bytes('d1:ai-12e1:bl1:x0:ee'), bytes('i0e'), bytes('le')]
  },
  metainfo: {
    run: async (b) => { await parseTorrent(b) },
    seeds: torrentSeeds
  },
  magnet: {
    run: (b) => { parseMagnet(td.decode(b)) },
    seeds: () => [
      bytes('magnet:?xt=urn:btih:abababababababababababababababababababab&dn=x&tr=udp%3A%2F%2F127.0.0.1%3A6969&x.pe=127.0.0.1:6881&so=0-2,4'),
      bytes('magnet:?xt=urn:btmh:1220' + 'cd'.repeat(32) + '&ws=http%3A%2F%2F127.0.0.1%2F'),
      bytes('magnet:?xt=urn:btih:VOVOVOVOVOVOVOVOVOVOVOVOVOVOVOVO')
    ]
  },
  wire: {
    run: (b) => {
      const parser = new MessageParser(createMessageCollector(() => {}), { maxMessageLengthBytes: 1 << 16 })
      // Split where the input says, so partial messages across chunks are exercised too.
      const cut = b.length > 0 ? b[0] % (b.length + 1) : 0
      parser.push(b.subarray(0, cut), 0)
      parser.push(b.slice(cut), 0)
    },
    seeds: () => peerSeeds().map((s) => s.subarray(68))
  },
  peer: {
    run: (b) => {
      const socket = new FuzzSocket()
      const clock = new ManualClock()
      const conn = new PeerConnection({ socket, clock }, resolvePeerSettings({ maxMessageLengthBytes: 1 << 16 }), {
        infoHash: HASH, localPeerId: bytes('-LS0100-000000000000'), outgoing: false, pieceCount: 21,
        localBitfield: () => { const f = new Bitfield(21); f.set(2); return f },
        readBlock: async (r) => new Uint8Array(r.length)
      })
      let failure = null
      conn.on('closed', ({ reason }) => { if (reason !== undefined && reason.code === 'INTERNAL') failure = reason })
      for (let o = 0; o < b.length && !socket.closed;) {
        const n = 1 + (b[o] % 97)
        socket.dataCb?.(b.slice(o, o + n))
        o += n
      }
      clock.advance(30_000)
      conn.close()
      if (failure !== null) throw failure
    },
    seeds: peerSeeds
  },
  ut_metadata: {
    run: (b) => { decodeMetadataMessage(b) },
    seeds: () => [encodeMetadataRequest(3), encodeMetadataReject(1), encodeMetadataData(0, 20_000, fill(100, 9))]
  },
  ut_pex: {
    run: (b) => { decodePexMessage(b, 50) },
    seeds: () => [encodePexMessage({
      added: [{ address: { host: '127.0.0.1', port: 6881 }, flags: 0x05 }, { address: { host: '::1', port: 1 }, flags: 0 }],
      dropped: [{ host: '127.0.0.2', port: 80 }]
    })]
  },
  ext_handshake: {
    run: (b) => { decodeExtendedHandshake(b) },
    seeds: () => [encodeExtendedHandshake({ m: new Map([['ut_metadata', 1], ['ut_pex', 2]]), v: 'Lodestone', reqq: 500, p: 6881, yourip: fill(4, 127) })]
  },
  http_tracker: {
    run: (b) => {
      parseAnnounceResponse(b, 'http://127.0.0.1/announce', trackerSettings)
    },
    seeds: () => [
      bencodeEncode({ interval: 1800, 'min interval': 60, complete: 3, incomplete: 1, peers: fill(12, 1), peers6: fill(18, 2) }),
      bencodeEncode({ interval: 900, peers: [{ ip: '127.0.0.1', port: 6881, 'peer id': PEER_ID }], 'tracker id': 'x', 'warning message': 'w' }),
      bencodeEncode({ 'failure reason': 'nope', 'retry in': 30 })
    ]
  },
  http_scrape: {
    run: (b) => { parseScrapeResponse(b, 'http://127.0.0.1/scrape', [HASH]) },
    seeds: () => [bencodeEncode({ files: { [td.decode(HASH)]: { complete: 1, downloaded: 2, incomplete: 3 } } })]
  },
  udp_tracker: {
    run: (b) => { parseUdpAnnounceResponse(b, 'udp://127.0.0.1:6969', b.length % 2 === 0 ? 'ipv4' : 'ipv6', trackerSettings) },
    seeds: () => {
      const head = new Uint8Array(20)
      new DataView(head.buffer).setUint32(0, 1)
      new DataView(head.buffer).setUint32(8, 1800)
      return [concat(head, fill(12, 1)), concat(head, fill(18, 2), fill(1, 0))]
    }
  },
  ip_filter: {
    run: (b) => { parseIpFilterList(b) },
    seeds: () => [
      bytes('001.002.003.004 - 001.002.003.255 , 000 , Some range\n# comment\n10.0.0.0 - 10.255.255.255 , 100 , x\n'),
      bytes('Bad people:1.2.3.4-1.2.3.8\nMore:2001:db8::1-2001:db8::ff\n'),
      bytes('::ffff:1.2.3.4 - ::ffff:1.2.3.9 , 0 , v6\n')
    ]
  },
  resume_data: {
    run: (b) => {
      resume.decodeTorrentList(b)
      resume.decodeBitfieldRecord(b, 'k', 21, 3)
      resume.decodeProgressRecord(b, 'k')
      resume.decodePeersRecord(b, 'k')
      resume.decodeMagnetRecord(b, 'k')
    },
    seeds: () => {
      const pieces = new Bitfield(21)
      pieces.set(3)
      return [
        resume.encodeTorrentList(['ab'.repeat(20)]),
        resume.encodeBitfieldRecord({ pieces, files: [{ sizeBytes: 10, mtimeUs: 5 }, null, null], savedAtMs: 1 }),
        resume.encodePeersRecord({ peers: ['127.0.0.1:6881', '[::1]:1'] }),
        resume.encodeMagnetRecord({ uri: 'magnet:?xt=urn:btih:' + 'ab'.repeat(20) })
      ]
    }
  },
  utp: {
    run: (b) => { parseUtpHeader(b, new UtpHeader()) },
    seeds: () => [utpPacket(0x41 >> 4, new Uint8Array(0), fill(30, 1)), utpPacket(2, Uint8Array.of(0, 4, 0xff, 0, 0, 1), new Uint8Array(0))]
  },
  // MSE/PE, both sides, after the DH: the harness sends the other side's fixed public key (from a
  // complete transcript between two fixed keys) and the input is everything that follows it — pad,
  // req1 hash, req2^req3 and the encrypted VC, crypto_provide/select, pads and IA. A mutated public
  // key would only make the rest undecryptable (and cost a 768-bit exponentiation per input); the
  // DH is covered by dh.test.ts's known answers and the unit suite's random-bytes handshakes.
  mse: {
    run: (b) => {
      const hs = responder()
      hs.receive(mseTranscript().initiatorSent.subarray(0, 96))
      feed(hs, b)
    },
    seeds: () => [mseTranscript().initiatorSent.subarray(96, 96 + 8), mseTranscript().initiatorSent.subarray(96)]
  },
  mse_initiator: {
    run: (b) => {
      const hs = initiator()
      hs.start()
      hs.receive(mseTranscript().responderSent.subarray(0, 96))
      feed(hs, b)
    },
    seeds: () => [mseTranscript().responderSent.subarray(96, 96 + 8), mseTranscript().responderSent.subarray(96)]
  },
  krpc: {
    run: (b) => { decodeKrpc(b) },
    seeds: () => [
      encodeQuery(bytes('aa'), 'get_peers', fill(20, 1), { info_hash: fill(20, 2) }, false),
      encodeQuery(bytes('bb'), 'announce_peer', fill(20, 1), { info_hash: fill(20, 2), port: 6881, token: bytes('tok') }, true),
      encodeResponse(bytes('cc'), fill(20, 3), { nodes: fill(26, 4), values: [{ host: '127.0.0.5', port: 5 }], token: bytes('t') }, { host: '127.0.0.1', port: 1 })
    ]
  },
  bridge_frames: {
    run: (b) => {
      const frame = bridge.decodeFrame(b)
      const r = new bridge.PayloadReader(frame.payload)
      if (frame.opcode === bridge.Op.FILE_WRITE) bridge.readFileWrite(frame.payload)
      else if (frame.opcode === bridge.Op.FILE_WRITE_RESULT) bridge.readFileWriteResult(frame.payload)
      else if (frame.opcode % 2 === 0) bridge.readUdpData(frame.payload)
      else { r.u32('id'); r.u16('port'); r.text(r.u8('length'), 'host'); r.end() }
    },
    seeds: () => [
      bridge.authFrame('token'), bridge.tcpConnectFrame(1, 2, '127.0.0.1', 6881), bridge.tcpAcceptFrame(1, 2, 6881, 51413, '127.0.0.1'),
      bridge.udpDataFrame(bridge.Op.UDP_RECV, 3, '127.0.0.1', 6881, fill(10, 1)), bridge.errorFrame(4, 'bad'),
      bridge.fileWriteFrame(5, 7, 2 ** 40 + 3, fill(20, 2)), bridge.fileWriteResultFrame(5, 20),
      bridge.fileWriteResultFrame(6, 0, { code: 'STORAGE_FULL', message: 'no space' }),
      bridge.tcpDataFrameOf(bridge.Op.TCP_SEND, 8, [fill(3, 1), fill(17, 2)], 20)
    ],
    // The bridge's own typed error for malformed frames (the adapter turns it into a closed connection).
    allow: (error) => error?.name === 'BridgeFrameError'
  }
}

export { view }
