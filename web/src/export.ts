// The export menu (loaded on first use): every format with its options. The browser
// downloads the file itself (the session cookie authorizes the GET).
import { h } from './dom'

export const FORMATS: Array<[string, string]> = [
  ['docx', 'Word (.docx)'],
  ['pdf', 'PDF'],
  ['md', 'Markdown'],
  ['html', 'HTML'],
  ['scriv', 'Scrivener project'],
]

export function optionFields(prefix: string): { el: HTMLElement; query: () => URLSearchParams } {
  const id = (n: string) => `${prefix}-${n}`
  const page = h('select', { id: id('page'), name: 'page_size' },
    h('option', { value: 'A4' }, 'A4'), h('option', { value: 'Letter' }, 'Letter')) as HTMLSelectElement
  const theme = h('select', { id: id('theme'), name: 'theme' },
    h('option', { value: 'classic' }, 'Classic'), h('option', { value: 'modern' }, 'Modern')) as HTMLSelectElement
  const margins = h('input', { id: id('margins'), type: 'number', min: 0, max: 80, value: 25, inputmode: 'numeric' }) as HTMLInputElement
  const author = h('input', { id: id('author'), maxlength: 200 }) as HTMLInputElement
  const title = h('input', { id: id('title'), maxlength: 200 }) as HTMLInputElement
  const boxes = (['manuscript', 'toc', 'split_scenes'] as const).map((name) => {
    const box = h('input', { type: 'checkbox', id: id(name), name }) as HTMLInputElement
    const label = { manuscript: 'Standard manuscript format', toc: 'Table of contents', split_scenes: 'Split scenes (Scrivener)' }[name]
    return { name, box, el: h('div', { class: 'check' }, box, h('label', { for: id(name) }, label)) }
  })
  const el = h(
    'fieldset',
    { class: 'options' },
    h('legend', {}, 'Options'),
    h('label', { for: id('page') }, 'Page size'), page,
    h('label', { for: id('margins') }, 'Margins (mm)'), margins,
    h('label', { for: id('theme') }, 'Theme'), theme,
    h('label', { for: id('author') }, 'Author'), author,
    h('label', { for: id('title') }, 'Title'), title,
    ...boxes.map((b) => b.el),
  )
  const query = () => {
    const q = new URLSearchParams({ page_size: page.value, theme: theme.value, margins: margins.value || '25' })
    if (author.value) q.set('author', author.value)
    if (title.value) q.set('title', title.value)
    for (const b of boxes) if (b.box.checked) q.set(b.name, 'true')
    return q
  }
  return { el, query }
}

export function exportPanel(docId: string): HTMLElement {
  const format = h('select', { id: 'export-format' }, ...FORMATS.map(([v, l]) => h('option', { value: v }, l))) as HTMLSelectElement
  const opts = optionFields('export')
  const download = h('a', { id: 'export-download', class: 'button primary', href: '#', download: '' }, 'Download') as HTMLAnchorElement
  const update = () => {
    download.href = `/api/documents/${encodeURIComponent(docId)}/export/${format.value}?${opts.query()}`
  }
  format.addEventListener('change', update)
  opts.el.addEventListener('input', update)
  opts.el.addEventListener('change', update)
  update()
  return h(
    'section',
    { class: 'panel', 'aria-labelledby': 'export-title' },
    h('h2', { id: 'export-title' }, 'Export'),
    h('label', { for: 'export-format' }, 'Format'),
    format,
    opts.el,
    download,
  )
}
