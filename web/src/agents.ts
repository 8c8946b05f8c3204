// The agent panel (loaded on first use): pick an agent, run it on the selection or
// the whole document. Replies arrive as agent.* app messages for every collaborator
// and are drawn by editor.ts, so this window and everyone else's show the same thing.
import { api } from './api'
import { h } from './dom'
import { sendApp, type EditorContext } from './editor'

interface AgentInfo {
  name: string
  description?: string
  available?: boolean
  unavailable_reason?: string
}

let counter = 0

export function agentPanel(ctx: EditorContext): HTMLElement {
  const select = h('select', { id: 'agent-name', 'aria-label': 'Agent' }) as HTMLSelectElement
  const scope = h('select', { id: 'agent-scope', 'aria-label': 'Run on' },
    h('option', { value: 'doc' }, 'Whole document'),
    h('option', { value: 'selection' }, 'Selection'),
  ) as HTMLSelectElement
  const about = h('p', { class: 'muted', id: 'agent-about' })
  const run = h('button', { type: 'button', class: 'primary', id: 'run-agent' }, 'Run') as HTMLButtonElement
  const note = h('p', { class: 'error', role: 'alert' })
  const panel = h(
    'section',
    { class: 'panel', 'aria-labelledby': 'agents-title' },
    h('h2', { id: 'agents-title' }, 'Writing agents'),
    h('label', { for: 'agent-name' }, 'Agent'),
    select,
    about,
    h('label', { for: 'agent-scope' }, 'Run on'),
    scope,
    run,
    note,
  )
  let agents: AgentInfo[] = []
  const describe = () => {
    const a = agents.find((x) => x.name === select.value)
    about.textContent = a ? (a.available === false ? a.unavailable_reason ?? 'unavailable' : a.description ?? '') : ''
    run.disabled = !a || a.available === false
  }
  select.addEventListener('change', describe)
  void api<{ agents: AgentInfo[] }>('GET', '/api/agents').then((data) => {
    agents = data.agents
    select.replaceChildren(
      ...agents.map((a) =>
        h('option', { value: a.name }, a.available === false ? `${a.name} (unavailable)` : a.name),
      ),
    )
    const first = agents.find((a) => a.available !== false)
    if (first) select.value = first.name
    describe()
  })
  run.addEventListener('click', () => {
    note.textContent = ''
    const msg: Record<string, unknown> = {
      type: 'agent.invoke',
      agent: select.value,
      request: `${ctx.me.username}-${Date.now().toString(36)}-${++counter}`,
    }
    if (scope.value === 'selection') {
      const { from, to, empty } = ctx.editor.state.selection
      if (empty) {
        note.textContent = 'Select some text first.'
        return
      }
      // Offsets into the agent text: blocks joined by newlines (docs/AGENTS.md).
      const doc = ctx.editor.state.doc
      const start = doc.textBetween(0, from, '\n').length
      msg.selection = { start, end: start + doc.textBetween(from, to, '\n').length }
    }
    if (!sendApp(ctx.provider, msg as any)) note.textContent = 'Offline: try again when connected.'
  })
  return panel
}
