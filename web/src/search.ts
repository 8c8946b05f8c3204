// The search box of the document list: GET /api/search as the writer types.
//
// A combobox (ARIA 1.2: the input keeps the focus, the listbox's active option is named
// by aria-activedescendant), so arrow keys, Enter and Escape work without leaving the
// text. Requests are debounced and a newer one aborts the older, so a slow answer to
// "dra" never replaces the answer to "dragon". Snippets arrive as plain-text parts
// (docs/SEARCH.md): each part becomes a text node, matches a <mark>; no HTML is ever
// parsed. Choosing a hit opens /d/<id>#match=<text>&at=<offset>; the editor (jump.ts)
// selects that match once the document has synced.
import './search.css'
import { api, ApiError } from './api'
import { announce, h, navigate } from './dom'

const DEBOUNCE_MS = 180
const LIMIT = 10

interface Part {
  text: string
  match: boolean
}

interface Hit {
  id: string
  title: string
  title_parts?: Part[]
  snippet?: Part[]
  offset?: number | null
  heading?: string
}

interface Answer {
  results: Hit[]
  next_cursor?: string | null
}

function marked(parts: Part[]): Node[] {
  return parts.map((p) => (p.match ? h('mark', {}, p.text) : document.createTextNode(p.text)))
}

// Where a hit opens: its document, and the first highlighted words of its snippet.
export function hitHref(hit: Hit): string {
  const path = `/d/${encodeURIComponent(hit.id)}`
  const match = hit.snippet?.find((p) => p.match)?.text
  if (!match || hit.offset === null || hit.offset === undefined) return path
  return `${path}#${new URLSearchParams({ match, at: String(hit.offset) })}`
}

export function searchBox(): { el: HTMLElement; destroy: () => void } {
  const input = h('input', {
    id: 'search',
    type: 'search',
    role: 'combobox',
    'aria-autocomplete': 'list',
    'aria-expanded': 'false',
    'aria-controls': 'search-results',
    autocomplete: 'off',
    spellcheck: 'false',
    placeholder: 'Search in all documents',
    maxlength: 1000,
    'aria-keyshortcuts': '/',
  }) as HTMLInputElement
  const list = h('ul', { id: 'search-results', role: 'listbox', 'aria-label': 'Search results', hidden: true })
  const status = h('p', { id: 'search-status', class: 'muted search-status', role: 'status' })
  const el = h(
    'div',
    { class: 'search', role: 'search' },
    h('label', { for: 'search', class: 'sr-only' }, 'Search in all documents'),
    input,
    list,
    status,
  )

  let timer = 0
  let controller: AbortController | null = null
  let query = ''
  let hits: Hit[] = []
  let cursor: string | null = null
  let active = -1 // index into the options (hits, then "load more")

  const options = () => [...list.querySelectorAll<HTMLElement>('[role=option]')]

  function open(yes: boolean): void {
    list.hidden = !yes
    input.setAttribute('aria-expanded', String(yes))
    if (!yes) setActive(-1)
  }

  function setActive(i: number): void {
    const opts = options()
    active = opts.length ? Math.max(-1, Math.min(i, opts.length - 1)) : -1
    opts.forEach((o, n) => o.setAttribute('aria-selected', String(n === active)))
    if (active >= 0) {
      input.setAttribute('aria-activedescendant', opts[active].id)
      opts[active].scrollIntoView({ block: 'nearest' })
    } else input.removeAttribute('aria-activedescendant')
  }

  function render(): void {
    const items = hits.map((hit, n) =>
      h(
        'li',
        { role: 'option', id: `search-hit-${n}`, 'aria-selected': 'false', 'data-id': hit.id, class: 'hit' },
        h('span', { class: 'hit-title' }, ...(hit.title_parts?.length ? marked(hit.title_parts) : [hit.title || hit.id])),
        hit.heading ? h('span', { class: 'hit-heading muted' }, hit.heading) : null,
        hit.snippet?.length ? h('span', { class: 'hit-snippet' }, ...marked(hit.snippet)) : null,
      ),
    )
    if (cursor) {
      items.push(h('li', { role: 'option', id: 'search-more', 'aria-selected': 'false', class: 'more' }, 'Load more results'))
    }
    list.replaceChildren(...items)
    open(items.length > 0)
  }

  async function run(more: boolean): Promise<void> {
    controller?.abort()
    const mine = new AbortController()
    controller = mine
    const params = new URLSearchParams({ q: query, limit: String(LIMIT) })
    if (more && cursor) params.set('cursor', cursor)
    el.setAttribute('aria-busy', 'true')
    try {
      const answer = await api<Answer>('GET', `/api/search?${params}`, undefined, { signal: mine.signal })
      if (mine !== controller) return // a newer request owns the box
      const keep = more ? active : -1
      hits = more ? [...hits, ...answer.results] : answer.results
      cursor = answer.next_cursor ?? null
      render()
      setActive(keep)
      const n = hits.length
      status.textContent = n ? `${n}${cursor ? '+' : ''} ${n === 1 ? 'result' : 'results'}` : 'No results'
    } catch (err) {
      if (mine !== controller || (err instanceof DOMException && err.name === 'AbortError')) return
      hits = []
      cursor = null
      render()
      status.textContent = err instanceof ApiError ? err.message : 'Search failed; try again.'
    } finally {
      if (mine === controller) el.removeAttribute('aria-busy')
    }
  }

  function choose(i: number): void {
    const opt = options()[i]
    if (!opt) return
    if (opt.id === 'search-more') {
      void run(true)
      return
    }
    const hit = hits[i]
    announce(`Opening ${hit.title || hit.id}`)
    navigate(hitHref(hit))
  }

  input.addEventListener('input', () => {
    clearTimeout(timer)
    const q = input.value
    if (!q.trim()) {
      controller?.abort()
      controller = null
      query = ''
      hits = []
      cursor = null
      status.textContent = ''
      render()
      return
    }
    timer = window.setTimeout(() => {
      query = q
      void run(false)
    }, DEBOUNCE_MS)
  })
  input.addEventListener('keydown', (event) => {
    const n = options().length
    if (event.key === 'ArrowDown') {
      if (list.hidden && n) open(true)
      setActive(active + 1 >= n ? 0 : active + 1)
    } else if (event.key === 'ArrowUp') {
      if (list.hidden && n) open(true)
      setActive(active <= 0 ? n - 1 : active - 1)
    } else if (event.key === 'Enter') {
      if (active < 0) return
      choose(active)
    } else if (event.key === 'Escape') {
      if (!list.hidden) open(false)
      else if (input.value) {
        input.value = ''
        input.dispatchEvent(new Event('input'))
      } else return
    } else return
    event.preventDefault()
  })
  // mousedown keeps the focus in the input (and the list open) until the click lands.
  list.addEventListener('mousedown', (event) => event.preventDefault())
  list.addEventListener('click', (event) => {
    const opt = (event.target as HTMLElement).closest<HTMLElement>('[role=option]')
    if (opt) choose(options().indexOf(opt))
  })
  input.addEventListener('focus', () => {
    if (hits.length || cursor) open(true)
  })
  el.addEventListener('focusout', (event) => {
    if (!el.contains(event.relatedTarget as Node | null)) open(false)
  })

  // "/" jumps to the box from anywhere on the list, as on many sites; not while typing.
  const slash = (event: KeyboardEvent) => {
    const t = event.target as HTMLElement | null
    if (event.key !== '/' || event.ctrlKey || event.metaKey || event.altKey) return
    if (t?.closest('input, textarea, select, [contenteditable=true], dialog')) return
    event.preventDefault()
    input.focus()
  }
  document.addEventListener('keydown', slash)

  return {
    el,
    destroy: () => {
      document.removeEventListener('keydown', slash)
      clearTimeout(timer)
      controller?.abort()
    },
  }
}
