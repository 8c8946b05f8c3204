// Builds web/ into draftroom/web/dist, which the Python server serves (draftroom/web/).
//
// base './': chunks import each other relative to their own URL, so one build works
// from the node or from a CDN (--asset-url); the server rewrites index.html's links.
// Every asset is written a second time as .br and .gz (Node's zlib): the server picks
// one by Accept-Encoding and never compresses at request time.
import { brotliCompressSync, constants, gzipSync } from 'node:zlib'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { defineConfig, type Plugin } from 'vite'

const outDir = resolve(import.meta.dirname, '../draftroom/web/dist')

function precompress(): Plugin {
  return {
    name: 'draftroom-precompress',
    apply: 'build',
    closeBundle() {
      const dir = join(outDir, 'assets')
      for (const name of readdirSync(dir)) {
        if (!/\.(js|css|svg|json|txt|map)$/.test(name)) continue
        const data = readFileSync(join(dir, name))
        writeFileSync(
          join(dir, name + '.br'),
          brotliCompressSync(data, {
            params: {
              [constants.BROTLI_PARAM_QUALITY]: 11,
              [constants.BROTLI_PARAM_SIZE_HINT]: data.length,
            },
          }),
        )
        writeFileSync(join(dir, name + '.gz'), gzipSync(data, { level: 9 }))
      }
    },
  }
}

// V8's explicit compile hint (Chrome 136+): compile every function of the file at once,
// on the streaming compiler's background thread while the file downloads, instead of
// lazily on the main thread at its first call. The editor route calls most of these
// chunks' code before it is editable (module evaluation, TipTap's mount, the first
// key), and each lazy compile there ran on a 4x-throttled phone's main thread.
// Other browsers read a comment.
const HINT = '//# allFunctionsCalledOnLoad'
const EAGER = new Set(['editor'])

function compileHints(): Plugin {
  return {
    name: 'draftroom-compile-hints',
    apply: 'build',
    // Vite writes its preload map (__vite__mapDeps) above the banner; the hint goes first.
    generateBundle: {
      order: 'post',
      handler(_options, bundle) {
        for (const chunk of Object.values(bundle)) {
          if (chunk.type !== 'chunk' || !EAGER.has(chunk.name)) continue
          chunk.code = HINT + '\n' + chunk.code.replace(HINT + '\n', '')
        }
      },
    },
  }
}

export default defineConfig({
  base: './',
  plugins: [compileHints(), precompress()],
  build: {
    outDir,
    emptyOutDir: true,
    target: 'es2022',
    modulePreload: { polyfill: false },
    manifest: true, // the server preloads the editor's chunks on editor routes
    reportCompressedSize: false,
    chunkSizeWarningLimit: 700, // the editor chunk: bench/web.py holds it to 250 KB gzipped
    rolldownOptions: {
      // In the hashed content too, so the hint changes the chunk's name (immutable caching).
      output: { postBanner: (chunk) => (EAGER.has(chunk.name) ? HINT + '\n' : '') },
    },
  },
})
