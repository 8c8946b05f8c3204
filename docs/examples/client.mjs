// Draftroom from Node: edit a document and wait until the server says the edit is saved.
//   npm install yjs y-websocket ws @msgpack/msgpack
//   node client.mjs      (DRAFTROOM_URL, DRAFTROOM_DOC and DRAFTROOM_TOKEN override the defaults)
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import WebSocket from 'ws' // Node has no browser WebSocket: y-websocket needs this one
import { decode } from '@msgpack/msgpack'

const url = process.env.DRAFTROOM_URL ?? 'ws://127.0.0.1:8000/ws' // y-websocket appends "/" + room
const room = process.env.DRAFTROOM_DOC ?? 'my-novel/chapter-1'
const token = process.env.DRAFTROOM_TOKEN // from POST /api/sessions; leave unset under --allow-anonymous

const doc = new Y.Doc()
const params = { draftroom: '1' } // opt in to Draftroom's app messages, such as "saved" acks
if (token) params.token = token
const provider = new WebsocketProvider(url, room, doc, { params, WebSocketPolyfill: WebSocket })

// Message type 100 is Draftroom's: the rest of the frame is one msgpack map, e.g.
// {type: "welcome", doc, version, role, read_only}, {type: "saved", upto, version}, {type: "error", code, message}.
let joinedAt = null
provider.messageHandlers[100] = (_encoder, decoder) => {
  const message = decode(decoder.arr.subarray(decoder.pos))
  decoder.pos = decoder.arr.length
  console.log('draftroom:', JSON.stringify(message))
  if (message.type === 'welcome') joinedAt = message.version
  // "saved" acks also answer the sync handshake; ours is the one past the joining version
  if (message.type === 'saved' && joinedAt !== null && message.version > joinedAt) {
    provider.destroy()
    doc.destroy() // stops the awareness timer too, so node exits
  }
}

provider.once('sync', () => {
  doc.getText('text').insert(0, 'It was a dark and stormy night.')
  provider.awareness.setLocalStateField('user', { name: 'Ada' })
})
setTimeout(() => { console.error('no "saved" ack within 10 s'); process.exit(1) }, 10_000).unref()
