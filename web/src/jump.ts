// Opening a search hit at its match: /d/<id>#match=<text>&at=<offset>.
//
// The server's `offset` counts Python code points in the document flattened as
// document/text.py does it (text blocks in reading order joined with "\n", a hard
// break is "\n" too, " " inside a heading). The same flattening is built here from the
// ProseMirror document, keeping where each character sits in it; the occurrence of the
// match nearest that offset is selected and scrolled into view. Comparing is case- and
// accent-blind, like search itself. The document may have changed since it was indexed:
// the nearest occurrence still wins, and no occurrence at all leaves the editor as is.
import type { Editor } from '@tiptap/core'
import type { Node as PMNode } from '@tiptap/pm/model'

export interface Match {
  text: string
  at: number
}

export function matchFromHash(hash: string): Match | null {
  const params = new URLSearchParams(hash.replace(/^#/, ''))
  const text = params.get('match')
  const at = Number(params.get('at'))
  return text && Number.isFinite(at) ? { text, at } : null
}

function fold(s: string): string {
  return s.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase()
}

// The flattened text, folded, with the ProseMirror position of each folded unit.
function flatten(doc: PMNode): { text: string; pos: number[]; ends: number[]; points: number[] } {
  let text = ''
  const pos: number[] = [] // ProseMirror position of each unit of `text`
  const ends: number[] = [] // and the position just past the character it came from
  const points: number[] = [] // code points of the unfolded text before each unit
  let cp = 0
  let first = true
  doc.descendants((node, at) => {
    if (!node.isTextblock) return true
    if (!first) {
      text += '\n'
      pos.push(at)
      ends.push(at)
      points.push(cp++)
    }
    first = false
    const heading = node.type.name === 'heading'
    node.forEach((child, offset) => {
      const start = at + 1 + offset
      const raw = child.isText ? child.text ?? '' : heading ? ' ' : '\n'
      let i = 0
      for (const ch of raw) {
        const folded = child.isText ? fold(ch) : ch
        for (let k = 0; k < folded.length; k++) {
          pos.push(start + i)
          ends.push(start + i + ch.length)
          points.push(cp)
        }
        text += folded
        i += ch.length
        cp++
      }
    })
    return false
  })
  return { text, pos, ends, points }
}

// Select the occurrence of `match.text` nearest `match.at`; false if there is none.
export function selectMatch(editor: Editor, match: Match): boolean {
  const needle = fold(match.text)
  if (!needle) return false
  const flat = flatten(editor.state.doc)
  let best = -1
  for (let i = flat.text.indexOf(needle); i >= 0; i = flat.text.indexOf(needle, i + 1)) {
    if (best < 0 || Math.abs(flat.points[i] - match.at) < Math.abs(flat.points[best] - match.at)) best = i
    if (flat.points[i] > match.at) break // later ones are only further away
  }
  if (best < 0) return false
  const from = flat.pos[best]
  const to = flat.ends[best + needle.length - 1]
  editor.chain().focus().setTextSelection({ from, to }).run()
  // In the middle of the screen, with its paragraph around it (ProseMirror's own
  // scrollIntoView stops as soon as the selection touches the bottom edge).
  const { node } = editor.view.domAtPos(from)
  const el = node instanceof Element ? node : node.parentElement
  el?.scrollIntoView({ block: 'center' })
  return true
}
