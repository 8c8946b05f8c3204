// The document list: create, open, rename, delete, share; paginated (the API's
// limit/offset) and sorted by the server (sort/order), so the order holds across
// pages; who is in each document now (GET /api/presence); search (search.ts);
// batch export with progress from the rooms' export.progress messages.
import { decode } from '@msgpack/msgpack'
import { api, ApiError, type DocMeta, type Me } from './api'
import { announce, h, navigate } from './dom'
import { field, formDialog } from './dialog'
import { FORMATS, optionFields } from './export'
import { searchBox } from './search'

const PAGE = 20

export function mountList(root: HTMLElement, _me: Me): () => void {
  let offset = 0
  // "key:order", as the API takes them.
  let sortBy = 'updated_at:desc'
  let docs: DocMeta[] = []
  let presence: Record<string, Array<{ name: string; color: string }>> = {}
  const selected = new Set<string>()
  let stopped = false
  const sockets: WebSocket[] = []

  const error = h('p', { class: 'error', role: 'alert', id: 'list-error' })
  const newTitle = h('input', { id: 'new-title', placeholder: 'Untitled', maxlength: 500 }) as HTMLInputElement
  const create = h(
    'form',
    { class: 'row', id: 'create-form', 'aria-label': 'New document' },
    h('label', { for: 'new-title', class: 'sr-only' }, 'Title of the new document'),
    newTitle,
    h('button', { type: 'submit', class: 'primary' }, 'New document'),
  ) as HTMLFormElement
  const sort = h(
    'select',
    { id: 'sort', 'aria-label': 'Sort by' },
    h('option', { value: 'updated_at:desc' }, 'Recently edited'),
    h('option', { value: 'updated_at:asc' }, 'Least recently edited'),
    h('option', { value: 'title:asc' }, 'Title, A to Z'),
    h('option', { value: 'title:desc' }, 'Title, Z to A'),
    h('option', { value: 'created_at:desc' }, 'Newest'),
    h('option', { value: 'created_at:asc' }, 'Oldest'),
  ) as HTMLSelectElement
  const tbody = h('tbody', { id: 'docs' })
  const table = h(
    'table',
    { class: 'docs' },
    h('caption', { class: 'sr-only' }, 'Your documents'),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Select')),
        h('th', { scope: 'col' }, 'Title'),
        h('th', { scope: 'col', class: 'wide' }, 'Edited'),
        h('th', { scope: 'col' }, 'Here now'),
        h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')),
      ),
    ),
    tbody,
  )
  const prev = h('button', { type: 'button', id: 'prev' }, '← Previous') as HTMLButtonElement
  const next = h('button', { type: 'button', id: 'next' }, 'Next →') as HTMLButtonElement
  const pageInfo = h('span', { class: 'muted', id: 'page-info' })
  const batchFormat = h('select', { id: 'batch-format', 'aria-label': 'Export format' },
    ...FORMATS.map(([v, l]) => h('option', { value: v }, l))) as HTMLSelectElement
  const batchOpts = optionFields('batch')
  const batchBtn = h('button', { type: 'button', id: 'batch-export' }, 'Export selected') as HTMLButtonElement
  const progress = h('progress', { id: 'batch-progress', max: 1, value: 0, hidden: true, 'aria-label': 'Export progress' }) as HTMLProgressElement
  const batchStatus = h('span', { id: 'batch-status', role: 'status' })
  const details = h('details', { class: 'batch' },
    h('summary', {}, 'Batch export'),
    h('div', { class: 'row' }, batchFormat, batchBtn, progress, batchStatus),
    batchOpts.el)

  const search = searchBox()
  root.replaceChildren(
    h(
      'section',
      { class: 'list', 'aria-labelledby': 'list-title' },
      h('div', { class: 'list-head' }, h('h1', { id: 'list-title' }, 'Documents'), sort),
      search.el,
      create,
      error,
      h('div', { class: 'table-wrap' }, table),
      h('div', { class: 'row pager' }, prev, pageInfo, next),
      details,
    ),
  )
  document.title = 'Documents · Draftroom'

  const show = (err: unknown) => {
    error.textContent = err instanceof Error ? err.message : String(err)
  }

  let loads = 0
  async function load(): Promise<void> {
    const mine = ++loads
    try {
      const [key, order] = sortBy.split(':')
      const data = await api<{ documents: DocMeta[] }>(
        'GET',
        `/api/documents?limit=${PAGE + 1}&offset=${offset}&sort=${key}&order=${order}`,
      )
      if (mine !== loads) return // the sort or page changed meanwhile: a newer load owns the list
      docs = data.documents.slice(0, PAGE)
      next.disabled = data.documents.length <= PAGE
      prev.disabled = offset === 0
      pageInfo.textContent = docs.length ? `${offset + 1}–${offset + docs.length}` : 'No documents yet'
      render()
      await loadPresence()
    } catch (err) {
      show(err)
    }
  }

  async function loadPresence(): Promise<void> {
    if (!docs.length) return
    const ids = docs.map((d) => encodeURIComponent(d.id)).join(',')
    try {
      presence = (await api<{ presence: typeof presence }>('GET', `/api/presence?ids=${ids}`)).presence
      // Only the "here" cells change: re-rendering the rows every few seconds would take
      // the keyboard focus away from whoever is working in the list.
      for (const row of tbody.querySelectorAll<HTMLTableRowElement>('tr[data-id]')) {
        const cell = row.querySelector('td.here')
        if (cell) cell.textContent = whoIsIn(row.dataset.id ?? '')
      }
    } catch {
      // Presence is a nicety; the list stands without it.
    }
  }

  function whoIsIn(id: string): string {
    return (presence[id] ?? []).map((p) => p.name).join(', ')
  }

  function render(): void {
    // New rows replace the old ones; the control that had the focus gets it back in its
    // new row (a rename reloads the list while the focus sits on the row's button).
    const focused = document.activeElement
    const focusedRow = focused?.closest<HTMLTableRowElement>('tr[data-id]')
    const focusedAction = focused instanceof HTMLElement ? focused.dataset.action : undefined
    tbody.replaceChildren(
      ...docs.map((d) => {
        const name = d.title || d.id
        const box = h('input', { type: 'checkbox', 'aria-label': `Select ${name}`, 'data-action': 'select' }) as HTMLInputElement
        box.checked = selected.has(d.id)
        box.addEventListener('change', () => (box.checked ? selected.add(d.id) : selected.delete(d.id)))
        // Only what this role may do (auth/permissions.py): renaming is editing, sharing
        // and deleting are the owner's. The server still decides; a role taken away
        // since this list loaded is refused there, with the reason shown.
        const owner = d.role === 'owner'
        const editor = owner || d.role === 'editor'
        return h(
          'tr',
          { 'data-id': d.id },
          h('td', {}, box),
          h('td', {}, h('a', { href: `/d/${encodeURIComponent(d.id)}`, 'data-link': true, class: 'doc-link', 'data-action': 'open' }, name)),
          h('td', { class: 'wide muted' }, d.updated_at ? new Date(String(d.updated_at)).toLocaleString() : ''),
          h('td', { class: 'here' }, whoIsIn(d.id)),
          h(
            'td',
            { class: 'actions' },
            editor && h('button', { type: 'button', onclick: () => void rename(d), 'aria-label': `Rename ${name}`, 'data-action': 'rename' }, 'Rename'),
            owner && h('button', { type: 'button', onclick: () => void share(d), 'aria-label': `Share ${name}`, 'data-action': 'share' }, 'Share'),
            owner && h('button', { type: 'button', class: 'danger', onclick: () => void remove(d), 'aria-label': `Delete ${name}`, 'data-action': 'delete' }, 'Delete'),
          ),
        )
      }),
    )
    if (focusedRow && focusedAction && !focusedRow.isConnected) {
      const id = CSS.escape(focusedRow.dataset.id ?? '')
      tbody.querySelector<HTMLElement>(`tr[data-id="${id}"] [data-action="${focusedAction}"]`)?.focus()
    }
  }

  async function rename(d: DocMeta): Promise<void> {
    const title = h('input', { name: 'title', maxlength: 500, value: d.title, id: 'rename-title' }) as HTMLInputElement
    const ok = await formDialog({
      title: `Rename “${d.title || d.id}”`,
      submit: 'Rename',
      fields: field('New title', title),
      onSubmit: () => api('PATCH', `/api/documents/${encodeURIComponent(d.id)}`, { title: title.value }),
    })
    if (!ok) return
    announce('Renamed')
    await load()
  }

  async function share(d: DocMeta): Promise<void> {
    const user = h('input', {
      name: 'username',
      id: 'share-user',
      required: true,
      autocapitalize: 'none',
      autocomplete: 'off',
      spellcheck: 'false',
    }) as HTMLInputElement
    const role = h(
      'select',
      { name: 'role', id: 'share-role' },
      ...['editor', 'commenter', 'viewer', 'owner'].map((r) => h('option', { value: r }, r)),
    ) as HTMLSelectElement
    const ok = await formDialog({
      title: `Share “${d.title || d.id}”`,
      submit: 'Share',
      fields: [...field('Username', user), ...field('Role', role)],
      onSubmit: () =>
        api(
          'PUT',
          `/api/documents/${encodeURIComponent(d.id)}/members/${encodeURIComponent(user.value.trim())}`,
          { role: role.value },
        ),
    })
    if (ok) announce(`Shared with ${user.value.trim()} as ${role.value}`)
  }

  async function remove(d: DocMeta): Promise<void> {
    if (!confirm(`Delete “${d.title || d.id}”? This cannot be undone.`)) return
    try {
      await api('DELETE', `/api/documents/${encodeURIComponent(d.id)}`)
      announce('Deleted')
      await load()
    } catch (err) {
      show(err)
    }
  }

  create.addEventListener('submit', async (event) => {
    event.preventDefault()
    try {
      const meta = await api<DocMeta>('POST', '/api/documents', { title: newTitle.value })
      navigate(`/d/${encodeURIComponent(meta.id)}`)
    } catch (err) {
      show(err)
    }
  })
  sort.addEventListener('change', () => {
    sortBy = sort.value
    offset = 0
    void load()
  })
  prev.addEventListener('click', () => {
    offset = Math.max(0, offset - PAGE)
    void load()
  })
  next.addEventListener('click', () => {
    offset += PAGE
    void load()
  })

  batchBtn.addEventListener('click', async () => {
    const ids = docs.map((d) => d.id).filter((id) => selected.has(id))
    if (!ids.length) {
      batchStatus.textContent = 'Select documents first.'
      return
    }
    const options = Object.fromEntries(batchOpts.query())
    try {
      const job = await api<{ id: string; total: number }>('POST', '/api/export/jobs', {
        documents: ids,
        format: batchFormat.value,
        mode: 'zip',
        options,
      })
      progress.hidden = false
      progress.max = ids.length
      progress.value = 0
      batchStatus.textContent = `Exporting 0 of ${ids.length}…`
      watchJob(job.id, ids)
    } catch (err) {
      batchStatus.textContent = err instanceof ApiError ? err.message : String(err)
    }
  })

  // Each room tells its collaborators when its document is done (export.progress);
  // listening in on a few of them shows the job advancing without polling for it.
  function watchJob(jobId: string, ids: string[]): void {
    let finished = false
    const finish = (state: string) => {
      if (finished) return
      finished = true
      for (const ws of sockets.splice(0)) ws.close()
      if (state === 'done') {
        progress.value = progress.max
        batchStatus.replaceChildren(
          'Done. ',
          h('a', { href: `/api/export/jobs/${jobId}/result`, id: 'batch-result', download: '' }, 'Download'),
        )
      } else batchStatus.textContent = 'The export failed.'
      announce(batchStatus.textContent ?? '')
    }
    const onProgress = (msg: any) => {
      if (msg?.type !== 'export.progress' || msg.job !== jobId) return
      progress.value = Math.max(progress.value, Number(msg.done) || 0)
      batchStatus.textContent = `Exporting ${progress.value} of ${msg.total}…`
      if (msg.state === 'done' || msg.state === 'failed') finish(msg.state)
    }
    const wsBase = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws/`
    for (const id of ids.slice(0, 4)) {
      const ws = new WebSocket(`${wsBase}${id}?draftroom=1`)
      ws.binaryType = 'arraybuffer'
      ws.onmessage = (event) => {
        const b = new Uint8Array(event.data as ArrayBuffer)
        if (b[0] === 100) onProgress(decode(b.subarray(1)))
      }
      sockets.push(ws)
    }
    // The final state also comes from the job itself, in case a message was missed.
    const poll = async () => {
      while (!finished && !stopped) {
        await new Promise((r) => setTimeout(r, 1000))
        try {
          const job = await api<{ state: string; done: number; total: number }>('GET', `/api/export/jobs/${jobId}`)
          progress.value = Math.max(progress.value, job.done)
          if (job.state === 'done' || job.state === 'failed') finish(job.state)
        } catch {
          // keep trying until the page goes away
        }
      }
    }
    void poll()
  }

  void load()
  const timer = window.setInterval(() => void loadPresence(), 5000)
  return () => {
    stopped = true
    search.destroy()
    clearInterval(timer)
    for (const ws of sockets.splice(0)) ws.close()
  }
}
