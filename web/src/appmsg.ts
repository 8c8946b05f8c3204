// Draftroom app messages (type 100, a msgpack map) on the y-websocket socket.
import { decode, encode } from '@msgpack/msgpack'
import type { WebsocketProvider } from 'y-websocket'

export const APP_MESSAGE = 100

export type AppMessage = { type: string; [key: string]: any }

export function listen(provider: WebsocketProvider, handler: (msg: AppMessage) => void): void {
  // y-websocket 3 looks handlers up by message type; the decoder sits after the type.
  ;(provider as any).messageHandlers[APP_MESSAGE] = (
    _encoder: unknown,
    decoder: { arr: Uint8Array; pos: number },
  ) => {
    const msg = decode(decoder.arr.subarray(decoder.pos)) as AppMessage
    decoder.pos = decoder.arr.length
    if (msg && typeof msg.type === 'string') handler(msg)
  }
}

export function sendApp(provider: WebsocketProvider, msg: AppMessage): boolean {
  const ws = provider.ws
  if (!ws || ws.readyState !== WebSocket.OPEN) return false
  const body = encode(msg)
  const frame = new Uint8Array(body.length + 1)
  frame[0] = APP_MESSAGE // a varuint below 128 is one byte
  frame.set(body, 1)
  ws.send(frame)
  return true
}
