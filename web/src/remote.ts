// Collaborators' edits reach the editor at most once per frame.
//
// y-tiptap answers every remote Y transaction by rebuilding the whole ProseMirror
// document and, when the local caret is on screen, measuring it (a forced layout) and
// scrolling to it. In a long document that is milliseconds per transaction, so with
// several writers the page pays it many times a frame. Here the provider's sync
// handler queues incoming updates and applies them together in one Y transaction
// just before the next frame is drawn: one rebuild per frame however many arrive, and
// the edits still appear in the first frame after they arrive. Updates commute, so
// holding them back until then changes nothing but timing. Sync step 1 and 2 pass
// straight through (step 1 needs an answer; step 2 marks the provider synced), after
// the queue is applied so the document never goes backwards in the user's eyes.
import * as decoding from 'lib0/decoding'
import { messageYjsUpdate } from 'y-protocols/sync'
import * as Y from 'yjs'
import { messageSync, type WebsocketProvider } from 'y-websocket'

type Handler = (encoder: unknown, decoder: decoding.Decoder, ...rest: unknown[]) => void

/** Coalesce remote updates per animation frame; returns a function that applies what is
 *  queued and stops. */
export function coalesceRemoteUpdates(provider: WebsocketProvider, ydoc: Y.Doc): () => void {
  const handlers = (provider as any).messageHandlers as Handler[]
  const sync = handlers[messageSync]
  let queued: Uint8Array[] = []
  let frame = 0
  let timer = 0

  const flush = (): void => {
    if (frame) cancelAnimationFrame(frame)
    if (timer) clearTimeout(timer)
    frame = timer = 0
    if (!queued.length) return
    const updates = queued
    queued = []
    // Origin `provider`, as y-websocket's own handler uses: the editor tells local edits
    // from remote ones by it.
    ydoc.transact(() => {
      for (const update of updates) Y.applyUpdate(ydoc, update, provider)
    }, provider)
  }

  handlers[messageSync] = (encoder, decoder, ...rest) => {
    const start = decoder.pos
    if (decoding.readVarUint(decoder) === messageYjsUpdate) {
      queued.push(decoding.readVarUint8Array(decoder))
      if (!frame) {
        frame = requestAnimationFrame(flush)
        // A hidden tab draws no frames; its timers still run (throttled).
        timer = window.setTimeout(flush, 100)
      }
      return // nothing to answer: y-websocket sends only a non-empty encoder
    }
    decoder.pos = start
    flush()
    sync(encoder, decoder, ...rest)
  }

  return () => {
    handlers[messageSync] = sync
    flush()
  }
}
