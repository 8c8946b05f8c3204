// Minimal in-memory y-websocket server (same wire protocol as y-websocket's reference
// server utils). Used ONLY by tests/test_infra_smoke.py to check the client harness
// independently of Draftroom's own server.
//
// usage: node relay.mjs [port]   (port 0 / omitted = pick a free one)
// prints one line {"port": N} on stdout once listening; rooms live at ws://127.0.0.1:N/ws/<room>
import { WebSocketServer } from 'ws'
import * as Y from 'yjs'
import * as syncProtocol from 'y-protocols/sync'
import * as awarenessProtocol from 'y-protocols/awareness'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'

const MSG_SYNC = 0
const MSG_AWARENESS = 1

const rooms = new Map()

const getRoom = (name) => {
  let room = rooms.get(name)
  if (room) return room
  const doc = new Y.Doc()
  const awareness = new awarenessProtocol.Awareness(doc)
  awareness.setLocalState(null)
  room = { doc, awareness, conns: new Map() } // ws -> Set<awareness clientID>
  const broadcast = (buf) => { for (const ws of room.conns.keys()) if (ws.readyState === 1) ws.send(buf) }
  doc.on('update', (update) => {
    const enc = encoding.createEncoder()
    encoding.writeVarUint(enc, MSG_SYNC)
    syncProtocol.writeUpdate(enc, update)
    broadcast(encoding.toUint8Array(enc))
  })
  awareness.on('update', ({ added, updated, removed }, origin) => {
    const changed = added.concat(updated, removed)
    const ids = room.conns.get(origin)
    if (ids) {
      for (const id of added) ids.add(id)
      for (const id of removed) ids.delete(id)
    }
    const enc = encoding.createEncoder()
    encoding.writeVarUint(enc, MSG_AWARENESS)
    encoding.writeVarUint8Array(enc, awarenessProtocol.encodeAwarenessUpdate(awareness, changed))
    broadcast(encoding.toUint8Array(enc))
  })
  rooms.set(name, room)
  return room
}

const wss = new WebSocketServer({ host: '127.0.0.1', port: Number(process.argv[2] || 0) })
wss.on('connection', (ws, req) => {
  const path = new URL(req.url, 'http://x').pathname
  const room = getRoom(decodeURIComponent(path.replace(/^\/ws\//, '')))
  room.conns.set(ws, new Set())
  ws.binaryType = 'arraybuffer'
  ws.on('message', (data) => {
    const decoder = decoding.createDecoder(new Uint8Array(data))
    const enc = encoding.createEncoder()
    const type = decoding.readVarUint(decoder)
    if (type === MSG_SYNC) {
      encoding.writeVarUint(enc, MSG_SYNC)
      syncProtocol.readSyncMessage(decoder, enc, room.doc, ws)
      if (encoding.length(enc) > 1) ws.send(encoding.toUint8Array(enc))
    } else if (type === MSG_AWARENESS) {
      awarenessProtocol.applyAwarenessUpdate(room.awareness, decoding.readVarUint8Array(decoder), ws)
    }
  })
  ws.on('close', () => {
    const ids = room.conns.get(ws)
    room.conns.delete(ws)
    if (ids && ids.size) awarenessProtocol.removeAwarenessStates(room.awareness, [...ids], null)
  })
  // sync step 1 + current awareness
  const enc = encoding.createEncoder()
  encoding.writeVarUint(enc, MSG_SYNC)
  syncProtocol.writeSyncStep1(enc, room.doc)
  ws.send(encoding.toUint8Array(enc))
  const states = room.awareness.getStates()
  if (states.size > 0) {
    const a = encoding.createEncoder()
    encoding.writeVarUint(a, MSG_AWARENESS)
    encoding.writeVarUint8Array(a, awarenessProtocol.encodeAwarenessUpdate(room.awareness, [...states.keys()]))
    ws.send(encoding.toUint8Array(a))
  }
  // a Draftroom-style app message (type 100 + msgpack map) so the harness path is exercised
  if (new URL(req.url, 'http://x').searchParams.get('draftroom') === '1') {
    // msgpack for {"type": "saved", "version": 0, "upto": 0}
    const body = Buffer.from([0x83, 0xa4, ...Buffer.from('type'), 0xa5, ...Buffer.from('saved'),
      0xa7, ...Buffer.from('version'), 0x00, 0xa4, ...Buffer.from('upto'), 0x00])
    ws.send(Buffer.concat([Buffer.from([100]), body]))
  }
})
wss.on('listening', () => {
  process.stdout.write(JSON.stringify({ port: wss.address().port }) + '\n')
})
process.stdin.on('end', () => process.exit(0))
process.stdin.resume()
