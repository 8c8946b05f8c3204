// Writes a document with the real Yjs exactly as y-prosemirror stores a ProseMirror doc
// (elements named after node types, attributes = node attrs, XmlText runs formatted with
// mark attrs, overlapping marks as "name--<hash>"), and prints
//   {"update": <base64 state>, "json": <the doc as y-prosemirror's yXmlFragmentToProsemirrorJSON
//   serializes it>}
// The serializer below follows y-prosemirror's documented output; y-prosemirror itself is not
// a dependency of tests/js. Usage: node tests/js/prosemirror_json.mjs <fragment name>
import * as Y from 'yjs'

const name = process.argv[2]
const doc = new Y.Doc()
const root = doc.getXmlFragment(name)

const text = (...runs) => {
  const t = new Y.XmlText()
  let at = 0
  for (const [s, marks] of runs) {
    t.insert(at, s, marks ?? {}) // {}: an unmarked run must not inherit its left neighbour's marks
    at += s.length
  }
  return t
}
const el = (tag, attrs, ...children) => {
  const e = new Y.XmlElement(tag)
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v)
  e.insert(0, children)
  return e
}

doc.transact(() => {
  root.insert(0, [
    el('heading', { level: 2, id: 'intro' }, text(['Départ 🚀', null])),
    el('paragraph', { textAlign: 'left' },
      text(['It was a ', null], ['dark', { bold: {} }], [' and ', null],
        ['stormy', { italic: {}, bold: {} }], [' night, ', null],
        ['see map', { link: { href: 'https://example.com/m?a=1', target: '_blank', rel: null } }],
        ['; sized', { textStyle: { fontSize: 12, lineHeight: 1.5 } }],
        ['; noted', { 'comment--AbCd1234': { id: 'c1' } }]),
      el('hardBreak', {}),
      text(['after the break', null])),
    el('bulletList', {},
      el('listItem', {}, el('paragraph', {}, text(['one', null]))),
      el('listItem', {}, el('paragraph', {}, text(['two', null])),
        el('orderedList', { start: 3 }, el('listItem', {}, el('paragraph', {}, text(['three', null])))))),
    el('codeBlock', { language: 'python' }, text(["print('hi')\nx = 1", null])),
    el('horizontalRule', {}),
    el('image', { src: 'https://example.com/x.png', alt: 'A picture', title: null, width: 640 }),
    el('paragraph', {}),
  ])
})

const markName = (attr) => {
  const hashed = /(.*)(--[a-zA-Z0-9+/=]{8})$/.exec(attr)
  return hashed === null ? attr : hashed[1]
}
const serialize = (item) => {
  if (item instanceof Y.XmlText) {
    return item.toDelta().map((d) => {
      const node = { type: 'text', text: d.insert }
      if (d.attributes) {
        node.marks = Object.keys(d.attributes).map((a) => ({ type: markName(a), attrs: d.attributes[a] }))
      }
      return node
    })
  }
  const node = { type: item.nodeName }
  const attrs = item.getAttributes()
  if (Object.keys(attrs).length) node.attrs = attrs
  const children = item.toArray()
  if (children.length) node.content = children.map(serialize).flat()
  return node
}

process.stdout.write(JSON.stringify({
  update: Buffer.from(Y.encodeStateAsUpdate(doc)).toString('base64'),
  json: { type: 'doc', content: root.toArray().map(serialize) },
}))
