// The editor's WebSocket, opened by the entry script before the editor's code has
// arrived. The socket's handshake, authentication and the server's `welcome` then
// overlap the download and evaluation of the editor chunk (the largest part of a cold
// load on a phone) instead of following them: on an editor page the socket is the
// last thing between the page and the first keystroke.
//
// The unmodified y-websocket provider takes it over through its documented
// `WebSocketPolyfill` option: the constructor below hands out the warm socket once,
// for the very URL it was opened for, and a plain WebSocket otherwise (reconnects).
// Frames that arrived before the takeover are kept and replayed, in order, right after
// a synthetic `open`, so the provider sees exactly what a socket of its own would have.

let warm: { url: string; ws: WebSocket; early: MessageEvent[] } | null = null
let expiry = 0

export function socketUrl(docId: string): string {
  // The same URL y-websocket builds: serverUrl + '/' + room + '?' + params.
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws'
  return `${scheme}://${location.host}/ws/${docId}?draftroom=1`
}

export function openWarm(url: string): void {
  discardWarm()
  const ws = new WebSocket(url)
  ws.binaryType = 'arraybuffer'
  const early: MessageEvent[] = []
  ws.onmessage = (event) => early.push(event)
  warm = { url, ws, early }
  // Not taken within 10 s (the route changed, or the provider built another URL):
  // close it rather than hold a connection nobody reads.
  expiry = window.setTimeout(discardWarm, 10_000)
}

export function discardWarm(): void {
  if (!warm) return
  clearTimeout(expiry)
  warm.ws.onmessage = null
  warm.ws.close()
  warm = null
}

function takeWarm(url: string): WebSocket | null {
  const w = warm
  if (!w || w.url !== url) return null
  warm = null
  clearTimeout(expiry)
  const { ws, early } = w
  if (ws.readyState === WebSocket.CONNECTING) {
    ws.onmessage = null // nothing can have arrived yet; the provider's handlers take over
    return ws
  }
  if (ws.readyState !== WebSocket.OPEN) return null
  // The provider sets onopen/onmessage right after construction, in this same task; a
  // microtask runs after that and before any frame still to come, so the order holds.
  queueMicrotask(() => {
    if (ws.readyState !== WebSocket.OPEN) return
    ws.onopen?.(new Event('open'))
    for (const event of early) ws.onmessage?.(event)
  })
  ws.onmessage = null
  return ws
}

// Only the constructor is replaced: what the provider gets is a real WebSocket.
export const WarmWebSocket = function (url: string, protocols?: string | string[]) {
  return takeWarm(url) ?? new WebSocket(url, protocols)
} as unknown as typeof WebSocket
