// Prints the ProseMirror schema the app's editor builds (web/src/schema.ts) next to
// StarterKit's (configured as the app used it: undoRedo off), as JSON, for
// tests/web/test_editor_schema.py. Bundled first with rolldown (Vite's bundler, from
// web/node_modules), since Node cannot import the TypeScript source by itself.
//   node tests/web/schema_same.mjs <scratch dir>
import { writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const web = resolve(dirname(fileURLToPath(import.meta.url)), '../../web')
const out = process.argv[2]
const entry = join(out, 'entry.ts')
writeFileSync(
  entry,
  `import { getSchema } from '@tiptap/core'
import StarterKit from '@tiptap/starter-kit'
import { writingExtensions } from ${JSON.stringify(join(web, 'src/schema.ts'))}
const describe = (schema: any) => ({
  nodes: Object.values(schema.nodes).map((t: any) => ({ name: t.name, ...t.spec })),
  marks: Object.values(schema.marks).map((t: any) => ({ name: t.name, ...t.spec })),
})
const plain = (x: any) => JSON.parse(JSON.stringify(x, (_k, v) => (typeof v === 'function' ? String(v) : v)))
console.log(JSON.stringify({
  starterKit: plain(describe(getSchema([StarterKit.configure({ undoRedo: false })]))),
  app: plain(describe(getSchema(writingExtensions()))),
}))
`,
)
const { rolldown } = await import(pathToFileURL(join(web, 'node_modules/rolldown/dist/index.mjs')).href)
const bundle = await rolldown({
  input: entry,
  platform: 'node',
  cwd: web,
  resolve: { modules: [join(web, 'node_modules')] },
  logLevel: 'silent',
})
await bundle.write({ file: join(out, 'check.mjs'), format: 'esm' })
await import(pathToFileURL(join(out, 'check.mjs')).href)
