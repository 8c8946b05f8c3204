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

export default defineConfig({
  base: './',
  plugins: [precompress()],
  build: {
    outDir,
    emptyOutDir: true,
    target: 'es2022',
    modulePreload: { polyfill: false },
    manifest: true, // the server preloads the editor's chunks on editor routes
    reportCompressedSize: false,
    chunkSizeWarningLimit: 700, // the editor chunk: bench/web.py holds it to 250 KB gzipped
  },
})
