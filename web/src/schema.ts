// The editor's TipTap extensions: StarterKit's set, listed one by one.
//
// StarterKit references every extension it can switch on, so a bundler keeps them all
// even when configured off: `undoRedo: false` (Collaboration brings its own undo over
// the Y.Doc) still shipped prosemirror-history and rope-sequence. Naming the pieces,
// from the packages' subpaths (their indexes would bring task lists and undo-redo
// along), ships 25 KB less of the editor chunk (6 KB gzipped). The schema is
// StarterKit's, node for node and mark for mark: the server's reader, the exports and
// every stored document rely on these names and attributes
// (tests/web/test_editor_schema.py compares the two).
import type { AnyExtension } from '@tiptap/core'
import { Plugin, type Transaction } from '@tiptap/pm/state'
import { ySyncPluginKey } from '@tiptap/y-tiptap'
import { Blockquote } from '@tiptap/extension-blockquote'
import { Bold } from '@tiptap/extension-bold'
import { Code } from '@tiptap/extension-code'
import { CodeBlock } from '@tiptap/extension-code-block'
import { Document } from '@tiptap/extension-document'
import { HardBreak } from '@tiptap/extension-hard-break'
import { Heading } from '@tiptap/extension-heading'
import { HorizontalRule } from '@tiptap/extension-horizontal-rule'
import { Italic } from '@tiptap/extension-italic'
import { Link } from '@tiptap/extension-link'
import { BulletList } from '@tiptap/extension-list/bullet-list'
import { ListItem } from '@tiptap/extension-list/item'
import { ListKeymap } from '@tiptap/extension-list/keymap'
import { OrderedList } from '@tiptap/extension-list/ordered-list'
import { Paragraph } from '@tiptap/extension-paragraph'
import { Strike } from '@tiptap/extension-strike'
import { Text } from '@tiptap/extension-text'
import { Underline } from '@tiptap/extension-underline'
import { Dropcursor } from '@tiptap/extensions/drop-cursor'
import { Gapcursor } from '@tiptap/extensions/gap-cursor'
import { TrailingNode } from '@tiptap/extensions/trailing-node'

// Autolink (a typed URL becomes a link once a space follows) looks at every change to
// the document, remote ones included: each open page would then link a URL someone
// else wrote (or an import brought), a viewer's page showing a link the document does
// not have, an editor's page sending the link again. It is an as-you-type feature, so
// it runs on this page's own edits only. This also keeps linkify's set-up (building its
// TLD scanner) off page load, where the first sync used to trigger it.
const remote = (tr: Transaction) => Boolean(tr.getMeta(ySyncPluginKey)?.isChangeOrigin)

const LocalAutolink = Link.extend({
  addProseMirrorPlugins() {
    return (this.parent?.() ?? []).map((plugin) => {
      const append = plugin.spec.appendTransaction
      if (!append || !(plugin as unknown as { key: string }).key.startsWith('autolink$')) {
        return plugin
      }
      return new Plugin({
        ...plugin.spec,
        appendTransaction: (trs, oldState, newState) =>
          trs.some(remote) ? undefined : append.call(plugin, trs, oldState, newState),
      })
    })
  },
})

export function writingExtensions(): AnyExtension[] {
  // StarterKit's order (it decides equal-priority precedence, e.g. of keymaps).
  return [
    Bold,
    Blockquote,
    BulletList,
    Code,
    CodeBlock,
    Document,
    Dropcursor,
    Gapcursor,
    HardBreak,
    Heading,
    HorizontalRule,
    Italic,
    ListItem,
    ListKeymap,
    LocalAutolink,
    OrderedList,
    Paragraph,
    Strike,
    Text,
    Underline,
    TrailingNode,
  ]
}
