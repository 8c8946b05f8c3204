// The search box and a dialog in Debian's firefox-esr (puppeteer-core over WebDriver
// BiDi). Run by test_firefox_search.py:
//
//   node tests/web/firefox_search.mjs BASE_URL USER PASSWORD WORD DOC_ID
//
// Logs in as USER, types the start of WORD in the list's search box, opens the hit with
// the keyboard and checks that the editor selected WORD; then opens the rename dialog
// and closes it with Escape. Prints one JSON line; exit 0 on success.
import { createRequire } from 'node:module'

const require = createRequire(new URL('../../web/package.json', import.meta.url))
const puppeteer = require('puppeteer-core')

const [base, user, password, word, doc] = process.argv.slice(2)
const TIMEOUT = 15000

const browser = await puppeteer.launch({
  browser: 'firefox',
  executablePath: '/usr/bin/firefox-esr',
  headless: true,
})
try {
  const page = await (await browser.createBrowserContext()).newPage()
  page.setDefaultTimeout(TIMEOUT)
  await page.goto(`${base}/login`)
  await page.waitForSelector('#username')
  await page.type('#username', user)
  await page.type('#password', password)
  await page.click('button[type=submit]')
  await page.waitForSelector('#list-title')

  // A dialog: opens with the focus in its field, Escape closes it and gives the focus back.
  await page.waitForSelector(`tr[data-id="${doc}"]`)
  await page.click(`tr[data-id="${doc}"] button[aria-label^="Rename"]`)
  await page.waitForFunction(() => document.activeElement?.id === 'rename-title')
  await page.keyboard.press('Escape')
  await page.waitForFunction(() => !document.querySelector('dialog'))
  await page.waitForFunction(() => document.activeElement?.textContent === 'Rename')

  await page.click('#search')
  await page.keyboard.type(word.slice(0, -2), { delay: 20 })
  await page.waitForFunction(
    (w) => document.querySelector('#search-results .hit .hit-snippet mark')?.textContent === w,
    {},
    word,
  )
  await page.keyboard.press('ArrowDown')
  await page.keyboard.press('Enter')
  await page.waitForFunction((d) => location.pathname === `/d/${d}`, {}, doc)
  await page.waitForFunction(() => document.querySelector('#save-status')?.textContent === 'Saved')
  await page.waitForFunction(
    (w) => {
      const e = window.draftroom?.editor
      if (!e) return false
      const { from, to } = e.state.selection
      return e.state.doc.textBetween(from, to) === w
    },
    {},
    word,
  )
  console.log(JSON.stringify({ ok: true, userAgent: await browser.version() }))
} finally {
  await browser.close()
}
