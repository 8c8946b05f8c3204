// The editor route: TipTap 3 over the unmodified y-websocket provider.
//
// Save state is honest: the server acknowledges with `saved {upto}`, where upto counts
// this connection's sync step 2 and update messages. We count them as they leave the
// socket, remember how many local edits each one carried, and so know exactly which
// edits are durable. While offline, the edits not yet acknowledged are shown as such.
import { Editor } from '@tiptap/core'
import Collaboration from '@tiptap/extension-collaboration'
import CollaborationCaret from '@tiptap/extension-collaboration-caret'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { api, onExpired, type DocMeta, type Me } from './api'
import { listen, sendApp, type AppMessage } from './appmsg'
import { announce, h } from './dom'
import { matchFromHash, selectMatch } from './jump'
import { coalesceRemoteUpdates } from './remote'
import { writingExtensions } from './schema'
import { WarmWebSocket } from './warmsocket'

const COLORS = ['#b3261e', '#1a73e8', '#188038', '#a142f4', '#e37400', '#007b83', '#c5221f']

function colorFor(name: string): string {
  let x = 0
  for (const c of name) x = (x * 31 + c.charCodeAt(0)) >>> 0
  return COLORS[x % COLORS.length]
}

export interface EditorContext {
  docId: string
  editor: Editor
  provider: WebsocketProvider
  me: Me
  readOnly: () => boolean
  feed: HTMLElement
  onAgentMessage: Set<(msg: AppMessage) => void>
}

export function mountEditor(root: HTMLElement, docId: string, who: Promise<Me | null>): () => void {
  // Filled in when /api/me answers; the editor does not wait for it.
  const me: Me = { id: '', username: '', admin: false, via: '' }
  const title = h('h1', { class: 'doc-title', id: 'doc-title' }, docId)
  const status = h('span', { id: 'save-status', class: 'status', role: 'status' }, 'Connecting…')
  const words = h('span', { id: 'word-count', class: 'muted' }, '0 words')
  const roleBadge = h('span', { id: 'role', class: 'badge' }, '…')
  const people = h('ul', { id: 'presence', class: 'presence', 'aria-label': 'People here' })
  const agentsBtn = h(
    'button',
    { type: 'button', id: 'open-agents', 'aria-keyshortcuts': 'Alt+A', 'aria-expanded': 'false' },
    'Agents',
  )
  const exportBtn = h(
    'button',
    { type: 'button', id: 'open-export', 'aria-keyshortcuts': 'Alt+E', 'aria-expanded': 'false' },
    'Export',
  )
  const host = h('div', { id: 'editor', class: 'editor' })
  const side = h('aside', { id: 'side', class: 'side', 'aria-label': 'Tools' })
  const feed = h('section', { id: 'agent-feed', class: 'feed', 'aria-label': 'Agent replies', 'aria-live': 'polite' })
  root.replaceChildren(
    h(
      'div',
      { class: 'doc' },
      h(
        'div',
        { class: 'doc-head' },
        h('a', { href: '/', 'data-link': true, class: 'back' }, '← Documents'),
        title,
        h('div', { class: 'doc-meta' }, status, words, roleBadge),
        h('div', { class: 'doc-actions' }, agentsBtn, exportBtn),
        people,
      ),
      h('div', { class: 'doc-body' }, host, h('div', { class: 'side-wrap' }, side, feed)),
    ),
  )
  document.title = `${docId} · Draftroom`
  void api<DocMeta>('GET', `/api/documents/${encodeURIComponent(docId)}`)
    .then((meta) => {
      if (meta.title) {
        title.textContent = meta.title
        document.title = `${meta.title} · Draftroom`
      }
    })
    .catch(() => {})

  const ydoc = new Y.Doc()
  // Counted before the provider sends (this handler is registered first).
  let provider: WebsocketProvider
  let localSeq = 0 // local edits made so far
  let savedSeq = 0 // local edits the server has acknowledged as durable
  let msgNo = 0 // counted messages sent on the current connection
  let inFlight: Array<[number, number]> = [] // [message number, localSeq it covers]
  let connected = false
  let synced = false
  let readOnly = true // until `welcome` says otherwise: no keystroke lands before it
  // Nor before the document's text (the first sync step 2): a key typed into the empty
  // page before it is merged with the arriving text, and the caret restored after the
  // merge can land before the letters already typed ("Q" then "8x" gave "8xQ").
  let loaded = false
  let stopped = false // the server refused us for good (4403, 4404)
  let refused = false // edits made just before a demotion were dropped by the server
  let destroyed = false // the route was left

  ydoc.on('update', (_update: Uint8Array, origin: unknown) => {
    if (origin === provider) return
    localSeq++
    renderStatus()
  })

  const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`
  provider = new WebsocketProvider(wsUrl, docId, ydoc, {
    params: { draftroom: '1' },
    disableBc: true,
    maxBackoffTime: 1500,
    WebSocketPolyfill: WarmWebSocket, // the socket main.ts opened, if it is this one
  })
  const stopCoalescing = coalesceRemoteUpdates(provider, ydoc)

  provider.on('status', ({ status: s }: { status: string }) => {
    connected = s === 'connected'
    if (connected && provider.ws) countSends(provider.ws)
    if (!connected) synced = false
    renderStatus()
  })
  // A search hit opened here (search.ts): select its match once the text has arrived.
  let match = matchFromHash(location.hash)
  provider.on('sync', (isSynced: boolean) => {
    synced = isSynced
    if (synced && !loaded) {
      loaded = true // for good: offline, the page keeps its text and stays editable
      editor.setEditable(!readOnly && !refused)
    }
    renderStatus()
    if (synced && match && !destroyed) {
      if (!selectMatch(editor, match)) announce('The match is no longer in this document.')
      match = null
      history.replaceState(history.state, '', location.pathname)
    }
  })
  provider.on('connection-close', (event: CloseEvent | null) => {
    const code = event?.code
    if (code === 4401) {
      provider.disconnect()
      onExpired('Your session has expired. Please log in again.')
    } else if (code === 4403 || code === 4404) {
      provider.disconnect()
      stopped = true
      status.textContent =
        code === 4404 ? 'This document was deleted.' : 'You no longer have access to this document.'
    }
  })

  function countSends(ws: WebSocket): void {
    msgNo = 0
    inFlight = []
    const send = ws.send.bind(ws)
    ws.send = (data: any) => {
      const b = data as Uint8Array
      if (b[0] === 0 && (b[1] === 1 || b[1] === 2)) inFlight.push([++msgNo, localSeq])
      send(data)
    }
  }

  const onAgentMessage = new Set<(msg: AppMessage) => void>()
  listen(provider, (msg) => {
    if (msg.type === 'welcome' || msg.type === 'role') {
      // `role`: the owner changed our role while the document is open.
      const was = readOnly
      readOnly = Boolean(msg.read_only)
      roleBadge.textContent = String(msg.role ?? (readOnly ? 'viewer' : 'editor'))
      editor.setEditable(!readOnly && loaded)
      host.classList.toggle('read-only', readOnly)
      if (readOnly && (msg.type === 'welcome' || !was)) announce('This document is read-only for you.')
      else if (!readOnly && msg.type === 'role' && was) announce('You can edit this document now.')
      if (!readOnly && refused) {
        // Edits the server dropped while we could not edit are still in our Y.Doc; a new
        // connection's sync sends the server everything it lacks, those included.
        refused = false
        provider.disconnect()
        provider.connect()
      }
      renderStatus()
    } else if (msg.type === 'saved') {
      while (inFlight.length && inFlight[0][0] <= msg.upto) {
        savedSeq = Math.max(savedSeq, inFlight.shift()![1])
      }
      renderStatus()
    } else if (msg.type === 'error' && msg.code === 'read_only') {
      // Typed after a demotion but before we heard of it: not saved, and said so.
      refused = true
      editor.setEditable(false)
      renderStatus()
    } else if (msg.type.startsWith('agent.')) {
      showAgentMessage(ctx, msg)
      for (const fn of onAgentMessage) fn(msg)
    }
  })

  // While a writer types, every key makes an edit unsaved and its `saved` ack, a few ms
  // later, makes it saved again: "Saving…" and "Saved" would swap twice per key, and the
  // swap to "Saved" costs a frame of its own (style, layout, paint) for a word that the
  // next key takes back. So "Saved" is shown once everything has stayed acknowledged for
  // SETTLE ms; every other change (an edit, offline, refused) is shown at once. The
  // status never claims more than is durable; it says "Saved" at most SETTLE ms late.
  const SETTLE = 250
  let settle = 0
  function renderStatus(settled = false): void {
    if (stopped) return
    const unsaved = localSeq - savedSeq
    let text: string
    if (!connected) {
      text =
        unsaved > 0
          ? `Offline — ${unsaved} ${unsaved === 1 ? 'edit' : 'edits'} not yet saved`
          : 'Offline — all edits saved'
    } else if (!synced) text = 'Connecting…'
    else if (refused && readOnly && unsaved > 0)
      text = `${unsaved} ${unsaved === 1 ? 'edit' : 'edits'} not saved: your role no longer lets you edit`
    else text = unsaved > 0 ? 'Saving…' : 'Saved'
    // Every key and every `saved` ack comes here: write only what changed, so that the
    // status line leaves the layout alone unless its text really changes.
    const state = !connected ? 'offline' : unsaved > 0 ? 'saving' : 'saved'
    if (text === 'Saved' && status.dataset.state === 'saving' && !settled) {
      if (!settle) settle = window.setTimeout(() => ((settle = 0), renderStatus(true)), SETTLE)
      return
    }
    if (settle) clearTimeout(settle)
    settle = 0
    setIfChanged(status, text, String(unsaved), state)
  }

  function setIfChanged(el: HTMLElement, text: string, unsaved: string, state: string): void {
    if (el.textContent !== text) el.textContent = text
    if (el.dataset.unsaved !== unsaved) el.dataset.unsaved = unsaved
    if (el.dataset.state !== state) el.dataset.state = state
  }

  const user = { name: '…', color: '#555555' }
  const editor = new Editor({
    element: host,
    editable: false,
    injectCSS: false, // CSP: no inline <style>; the same rules are in style.css
    extensions: [
      ...writingExtensions(),
      Collaboration.configure({ document: ydoc }),
      CollaborationCaret.configure({ provider, user }),
    ],
    editorProps: {
      attributes: {
        'aria-label': 'Document text',
        'aria-multiline': 'true',
        role: 'textbox',
        class: 'prose',
        spellcheck: 'true',
      },
    },
  })

  // Counting 50,000 words takes a millisecond or two: at most every 300 ms, and then
  // when the page is idle (within 200 ms more), not in a frame that has a key to draw.
  let countTimer = 0
  let countIdle = 0
  // Not toLocaleString: its first call sets up ICU number formatting, 80-150 ms at 4x
  // CPU throttling, and it came due just as a writer starts typing. English grouping
  // suits the English label.
  const grouped = (n: number) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',')
  function countWords(): void {
    countIdle = 0
    const d = editor.state.doc
    const n = d.textBetween(0, d.content.size, ' ', ' ').match(/\S+/g)?.length ?? 0
    const text = `${grouped(n)} ${n === 1 ? 'word' : 'words'}`
    if (words.textContent !== text) words.textContent = text
  }
  function scheduleCount(): void {
    if (countTimer || countIdle) return
    countTimer = window.setTimeout(() => {
      countTimer = 0
      if ('requestIdleCallback' in window) countIdle = requestIdleCallback(countWords, { timeout: 200 })
      else countWords()
    }, 300)
  }
  editor.on('update', scheduleCount)
  ydoc.on('afterTransaction', scheduleCount)

  // Awareness changes with every caret move, ours included (each key): rebuild the list
  // only when who is here, or their colour, changed.
  let shown = ''
  function renderPeople(): void {
    const seen = new Map<string, string>()
    provider.awareness.getStates().forEach((state) => {
      const u = (state as any)?.user
      if (u && typeof u.name === 'string') seen.set(u.name, String(u.color ?? ''))
    })
    const key = JSON.stringify([me.username, ...seen])
    if (key === shown) return
    shown = key
    people.replaceChildren(
      ...[...seen].map(([name, color]) => {
        const dot = h('span', { class: 'dot', 'aria-hidden': 'true' })
        dot.style.background = color
        return h('li', {}, dot, name === me.username ? `${name} (you)` : name)
      }),
    )
  }
  provider.awareness.on('change', renderPeople)
  renderPeople()
  void who.then((m) => {
    if (!m || destroyed) return
    Object.assign(me, m)
    editor.commands.updateUser({ name: m.username, color: colorFor(m.username) })
    renderPeople()
  })

  const ctx: EditorContext = {
    docId,
    editor,
    provider,
    me,
    readOnly: () => readOnly,
    feed,
    onAgentMessage,
  }

  async function toggle(which: 'agents' | 'export'): Promise<void> {
    const btn = which === 'agents' ? agentsBtn : exportBtn
    const open = btn.getAttribute('aria-expanded') === 'true'
    agentsBtn.setAttribute('aria-expanded', 'false')
    exportBtn.setAttribute('aria-expanded', 'false')
    side.replaceChildren()
    if (open) return
    btn.setAttribute('aria-expanded', 'true')
    // Code-split: the panels load only when first opened.
    const panel =
      which === 'agents'
        ? (await import('./agents')).agentPanel(ctx)
        : (await import('./export')).exportPanel(docId)
    side.replaceChildren(panel)
    panel.querySelector<HTMLElement>('select, button, input')?.focus()
  }
  agentsBtn.addEventListener('click', () => void toggle('agents'))
  exportBtn.addEventListener('click', () => void toggle('export'))
  const keys = (event: KeyboardEvent) => {
    if (!event.altKey || event.ctrlKey || event.metaKey) return
    const k = event.key.toLowerCase()
    if (k === 'a') void toggle('agents')
    else if (k === 'e') void toggle('export')
    else return
    event.preventDefault()
  }
  document.addEventListener('keydown', keys)
  // A dead network often leaves a socket looking open for many seconds; the browser
  // knows sooner. Drop the socket at once (edits stay in the Y.Doc and are counted as
  // unsaved) and reconnect as soon as the network is back.
  const offline = () => {
    provider.disconnect()
    renderStatus()
  }
  const online = () => {
    if (!stopped) provider.connect()
  }
  window.addEventListener('offline', offline)
  window.addEventListener('online', online)

  // For tests and benchmarks: the live pieces, reachable from the page.
  ;(window as any).draftroom = { editor, provider, ydoc }
  renderStatus()

  return () => {
    document.removeEventListener('keydown', keys)
    window.removeEventListener('offline', offline)
    window.removeEventListener('online', online)
    if (countTimer) clearTimeout(countTimer)
    if (settle) clearTimeout(settle)
    if (countIdle) cancelIdleCallback(countIdle)
    replies.clear()
    destroyed = true
    stopCoalescing()
    editor.destroy()
    provider.destroy()
    ydoc.destroy()
  }
}

// -- agent replies: shown in every collaborator's window -----------------------------

const replies = new Map<string, { el: HTMLElement; body: HTMLElement; text: string }>()

function describe(data: any): string {
  if (typeof data?.text === 'string') return data.text
  if (Array.isArray(data?.issues)) {
    return data.issues.map((i: any) => `• ${i.message ?? i.kind ?? JSON.stringify(i)}`).join('\n')
  }
  if (Array.isArray(data?.headings)) {
    return data.headings.map((x: any) => `${'  '.repeat((x.level ?? 1) - 1)}${x.text}`).join('\n')
  }
  return Object.entries(data ?? {})
    .map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`)
    .join('\n')
}

export function showAgentMessage(ctx: EditorContext, msg: AppMessage): void {
  let r = replies.get(msg.request)
  if (!r) {
    const body = h('pre', { class: 'reply-body' })
    const who = msg.requester?.name ?? 'someone'
    const el = h(
      'article',
      { class: 'reply', 'data-agent': msg.agent, 'data-request': msg.request },
      h('h3', {}, `${msg.agent} · asked by ${who}`),
      body,
    )
    ctx.feed.prepend(el)
    r = { el, body, text: '' }
    replies.set(msg.request, r)
  }
  if (msg.type === 'agent.chunk') {
    const piece = describe(msg.data)
    if (typeof msg.data?.text === 'string') r.text += msg.data.text
    r.body.textContent += (r.body.textContent && !msg.data?.text ? '\n' : '') + piece
  } else if (msg.type === 'agent.done') {
    r.el.dataset.done = 'true'
    announce(`${msg.agent} reply complete`)
    if (r.text && !msg.applied && !ctx.readOnly()) r.el.append(applyButtons(ctx, r.text))
  } else if (msg.type === 'agent.error') {
    r.el.dataset.done = 'true'
    r.body.textContent += `\n${msg.message ?? msg.code}`
    r.el.classList.add('failed')
  }
}

function applyButtons(ctx: EditorContext, text: string): HTMLElement {
  const undo = h('button', { type: 'button', hidden: true }, 'Undo') as HTMLButtonElement
  const apply = h('button', { type: 'button', class: 'primary' }, 'Apply') as HTMLButtonElement
  apply.addEventListener('click', () => {
    const { from, to, empty } = ctx.editor.state.selection
    const chain = ctx.editor.chain().focus()
    const range = empty ? { from: 0, to: ctx.editor.state.doc.content.size } : { from, to }
    chain.insertContentAt(range, text).run()
    apply.hidden = true
    undo.hidden = false
    undo.focus()
  })
  undo.addEventListener('click', () => {
    ctx.editor.chain().focus().undo().run()
    undo.hidden = true
    apply.hidden = false
  })
  return h('div', { class: 'row' }, apply, undo)
}

export { sendApp }
