// Draftroom test harness: one long-running node process hosting many *unmodified*
// Yjs / y-websocket clients, driven by tests/jsclient.py.
//
// Protocol: one JSON object per line on stdin  -> {"id": <any>, "cmd": "<name>", ...args}
//           one JSON object per line on stdout -> {"id": <same>, "ok": true, ...result}
//                                              or {"id": <same>, "error": "<message>"}
//           unsolicited lines carry "event" and never an "id".
// Nothing else is ever written to stdout (console.log is redirected to stderr).
//
// Draftroom app messages: y-websocket message type 100, rest of the frame is a msgpack map.
// A client opts in with params {draftroom: "1"}; every app message it receives is recorded
// and returned by the `acks` / `app_messages` commands.

import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import WebSocket from 'ws'
import { decode as msgpackDecode } from '@msgpack/msgpack'
import * as readline from 'node:readline'

if (typeof globalThis.WebSocket === 'undefined') {
  // y-websocket references the global WebSocket.OPEN constant when resyncInterval is used.
  globalThis.WebSocket = WebSocket
}

console.log = (...args) => console.error(...args)
console.info = (...args) => console.error(...args)

const MESSAGE_DRAFTROOM = 100

/** @type {Map<string, any>} */
const clients = new Map()

const write = (obj) => {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

const emitEvent = (event, data) => write({ event, ...data })

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

const getClient = (name) => {
  const c = clients.get(name)
  if (!c) throw new Error(`unknown client ${JSON.stringify(name)}`)
  return c
}

// Convert msgpack-decoded values (Maps, Uint8Arrays, bigints) into JSON-able ones.
const jsonable = (v) => {
  if (v instanceof Map) {
    const o = {}
    for (const [k, val] of v) o[String(k)] = jsonable(val)
    return o
  }
  if (v instanceof Uint8Array) return { $bytes: Buffer.from(v).toString('base64') }
  if (typeof v === 'bigint') return Number(v)
  if (Array.isArray(v)) return v.map(jsonable)
  if (v !== null && typeof v === 'object') {
    const o = {}
    for (const [k, val] of Object.entries(v)) o[k] = jsonable(val)
    return o
  }
  return v
}

const waitFor = async (pred, timeoutMs, what) => {
  const deadline = Date.now() + timeoutMs
  while (true) {
    const v = pred()
    if (v) return v
    if (Date.now() >= deadline) throw new Error(`timeout after ${timeoutMs} ms waiting for ${what}`)
    await sleep(5)
  }
}

const statusOf = (c) => ({
  connected: c.provider.wsconnected,
  connecting: c.provider.wsconnecting,
  synced: c.provider.synced,
  should_connect: c.provider.shouldConnect,
  destroyed: c.destroyed,
  statuses: c.statuses.slice(-20),
  closes: c.closes.length,
  close_events: c.closes,
  terminal_closes: c.terminalCloses,
  errors: c.errors,
  app_messages: c.appMessages.length
})

const commands = {
  ping: async () => ({ pong: true, clients: [...clients.keys()] }),

  open: async ({ client, url, room, params = {}, connect = true, max_backoff_ms, resync_interval_ms, awareness }) => {
    if (clients.has(client)) throw new Error(`client ${client} already exists`)
    if (!url || room === undefined) throw new Error('open needs url and room')
    const doc = new Y.Doc()
    const opts = {
      WebSocketPolyfill: WebSocket,
      params: Object.fromEntries(Object.entries(params).map(([k, v]) => [k, String(v)])),
      connect,
      disableBc: true
    }
    if (max_backoff_ms !== undefined) opts.maxBackoffTime = max_backoff_ms
    if (resync_interval_ms !== undefined) opts.resyncInterval = resync_interval_ms
    const provider = new WebsocketProvider(url, room, doc, opts)
    const c = {
      name: client,
      doc,
      provider,
      text: doc.getText('text'),
      statuses: [],
      closes: [],
      terminalCloses: [],
      errors: 0,
      appMessages: [],
      syncEvents: 0,
      destroyed: false
    }
    provider.messageHandlers[MESSAGE_DRAFTROOM] = (_encoder, decoder, _provider, _emitSynced, _type) => {
      const rest = decoder.arr.subarray(decoder.pos)
      decoder.pos = decoder.arr.length
      let msg
      try {
        msg = jsonable(msgpackDecode(rest))
      } catch (e) {
        msg = { type: '$undecodable', error: String(e), $bytes: Buffer.from(rest).toString('base64') }
      }
      c.appMessages.push(msg)
      emitEvent('app', { client, message: msg })
    }
    provider.on('status', ({ status }) => {
      c.statuses.push(status)
      emitEvent('status', { client, status })
    })
    provider.on('sync', (synced) => {
      if (synced) c.syncEvents++
    })
    provider.on('connection-close', (event) => {
      const rec = event == null ? { code: null, reason: null, local: true } : { code: event.code, reason: String(event.reason ?? ''), local: false }
      c.closes.push(rec)
      emitEvent('close', { client, ...rec })
    })
    provider.on('closed', (ev) => {
      c.terminalCloses.push({ code: ev.code, reason: String(ev.reason ?? '') })
    })
    provider.on('connection-error', () => {
      c.errors++
    })
    if (awareness !== undefined) provider.awareness.setLocalState(awareness)
    clients.set(client, c)
    return { client_id: doc.clientID }
  },

  wait_synced: async ({ client, timeout_ms = 10000 }) => {
    const c = getClient(client)
    try {
      await waitFor(() => c.provider.synced, timeout_ms, `${client} to sync`)
    } catch (e) {
      const closes = c.closes.slice(-5).map((x) => `${x.code} ${JSON.stringify(x.reason)}`)
      throw new Error(`${e.message} (url ${c.provider.url}; connected=${c.provider.wsconnected}; ` +
        `${c.closes.length} closes, last: ${closes.join(', ') || 'none'})`)
    }
    return { synced: true }
  },

  wait_text: async ({ client, text, timeout_ms = 10000 }) => {
    const c = getClient(client)
    try {
      await waitFor(() => c.text.toString() === text, timeout_ms, `${client} text`)
    } catch (e) {
      throw new Error(`${e.message}: have ${JSON.stringify(c.text.toString().slice(0, 200))} want ${JSON.stringify(String(text).slice(0, 200))}`)
    }
    return { text: c.text.toString() }
  },

  wait_acks: async ({ client, count = 1, type = 'saved', timeout_ms = 10000 }) => {
    const c = getClient(client)
    const matching = () => c.appMessages.filter((m) => type == null || (m && m.type === type))
    await waitFor(() => matching().length >= count, timeout_ms, `${count} '${type}' messages on ${client}`)
    return { acks: matching() }
  },

  wait_awareness: async ({ client, count, timeout_ms = 10000 }) => {
    const c = getClient(client)
    await waitFor(() => c.provider.awareness.getStates().size >= count, timeout_ms, `${count} awareness states on ${client}`)
    return { count: c.provider.awareness.getStates().size }
  },

  insert: async ({ client, index, text }) => {
    const c = getClient(client)
    c.text.insert(index, text)
    return { length: c.text.length }
  },

  type: async ({ client, text, interval_ms = 0 }) => {
    const c = getClient(client)
    for (const ch of text) {
      if (c.destroyed) throw new Error(`client ${client} was closed while typing`)
      c.text.insert(c.text.length, ch)
      if (interval_ms > 0) await sleep(interval_ms)
    }
    return { length: c.text.length }
  },

  delete: async ({ client, index, length }) => {
    const c = getClient(client)
    c.text.delete(index, length)
    return { length: c.text.length }
  },

  text: async ({ client }) => ({ text: getClient(client).text.toString() }),

  // base64 of Y.encodeStateAsUpdate(doc) and the state vector, for byte-level comparisons
  state: async ({ client }) => {
    const c = getClient(client)
    return {
      update: Buffer.from(Y.encodeStateAsUpdate(c.doc)).toString('base64'),
      state_vector: Buffer.from(Y.encodeStateVector(c.doc)).toString('base64'),
      // Content received that builds on content this client never got (Yjs parks it).
      pending: c.doc.store.pendingStructs !== null || c.doc.store.pendingDs !== null
    }
  },

  set_awareness: async ({ client, state }) => {
    getClient(client).provider.awareness.setLocalState(state)
    return {}
  },

  awareness: async ({ client }) => {
    const c = getClient(client)
    const states = {}
    for (const [id, st] of c.provider.awareness.getStates()) states[String(id)] = st
    return { states }
  },

  client_id: async ({ client }) => ({ client_id: getClient(client).doc.clientID }),

  acks: async ({ client }) => ({ acks: getClient(client).appMessages.slice() }),

  status: async ({ client }) => statusOf(getClient(client)),

  disconnect: async ({ client }) => {
    getClient(client).provider.disconnect()
    return {}
  },

  connect: async ({ client }) => {
    getClient(client).provider.connect()
    return {}
  },

  close: async ({ client }) => {
    const c = getClient(client)
    c.destroyed = true
    c.provider.destroy()
    c.doc.destroy()
    clients.delete(client)
    return {}
  },

  close_all: async () => {
    for (const c of clients.values()) {
      c.destroyed = true
      c.provider.destroy()
      c.doc.destroy()
    }
    const n = clients.size
    clients.clear()
    return { closed: n }
  },

  shutdown: async () => {
    await commands.close_all()
    setTimeout(() => process.exit(0), 10)
    return {}
  }
}

const handleLine = async (line) => {
  if (!line.trim()) return
  let req
  try {
    req = JSON.parse(line)
  } catch (e) {
    write({ id: null, error: `bad JSON: ${e.message}` })
    return
  }
  const { id, cmd, ...args } = req
  try {
    const fn = Object.hasOwn(commands, cmd) ? commands[cmd] : undefined
    if (!fn) throw new Error(`unknown command ${JSON.stringify(cmd)}`)
    const result = await fn(args)
    write({ id, ok: true, ...result })
  } catch (e) {
    write({ id, error: e && e.message ? e.message : String(e) })
  }
}

process.on('uncaughtException', (e) => {
  console.error('harness: uncaught exception', e)
  emitEvent('uncaught', { error: String(e && e.stack ? e.stack : e) })
})
process.on('unhandledRejection', (e) => {
  console.error('harness: unhandled rejection', e)
  emitEvent('uncaught', { error: String(e && e.stack ? e.stack : e) })
})

const rl = readline.createInterface({ input: process.stdin, terminal: false })
rl.on('line', (line) => {
  // commands run concurrently; each reply carries its id
  handleLine(line)
})
rl.on('close', () => {
  commands.close_all().finally(() => process.exit(0))
})

emitEvent('ready', { pid: process.pid })
