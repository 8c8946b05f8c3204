// The core editing test in Debian's firefox-esr, driven by puppeteer-core over
// WebDriver BiDi (Playwright cannot drive a stock Firefox). Run by test_firefox.py:
//
//   node tests/web/firefox_edit.mjs BASE_URL DOC_ID PASSWORD
//
// Two browser contexts log in as ann and bob, open DOC_ID, type, and each waits for
// the other's text and named caret. Exit 0 on success; the failure otherwise.
import { createRequire } from 'node:module'

const require = createRequire(new URL('../../web/package.json', import.meta.url))
const puppeteer = require('puppeteer-core')

const [base, doc, password] = process.argv.slice(2)
const TIMEOUT = 15000

async function login(ctx, user) {
  const page = await ctx.newPage()
  page.setDefaultTimeout(TIMEOUT)
  await page.goto(`${base}/login`)
  await page.waitForSelector('#username')
  await page.type('#username', user)
  await page.type('#password', password)
  await page.click('button[type=submit]')
  await page.waitForSelector('#list-title')
  await page.goto(`${base}/d/${doc}`)
  await page.waitForSelector('#editor .ProseMirror[contenteditable=true]')
  await page.waitForFunction(() => document.querySelector('#save-status')?.textContent === 'Saved')
  return page
}

async function typeAtEnd(page, text) {
  await page.bringToFront() // key events go to the focused window
  await page.click('#editor .ProseMirror')
  await page.keyboard.press('End')
  await page.keyboard.type(text, { delay: 5 })
}

const waitText = (page, text) =>
  page.waitForFunction((t) => document.querySelector('#editor')?.textContent.includes(t), {}, text)
const waitCaret = (page, name) =>
  page.waitForFunction(
    (n) => [...document.querySelectorAll('.collaboration-carets__label')].some((e) => e.textContent === n),
    {},
    name,
  )

const browser = await puppeteer.launch({
  browser: 'firefox',
  executablePath: '/usr/bin/firefox-esr',
  headless: true,
})
try {
  const a = await browser.createBrowserContext()
  const b = await browser.createBrowserContext()
  const ann = await login(a, 'ann')
  const bob = await login(b, 'bob')
  await typeAtEnd(ann, 'Written in Firefox by Ann.')
  await waitText(bob, 'Written in Firefox by Ann.')
  await typeAtEnd(bob, ' Bob agrees.')
  await waitText(ann, 'Bob agrees.')
  await waitCaret(ann, 'bob')
  await waitCaret(bob, 'ann')
  for (const page of [ann, bob]) {
    await page.waitForFunction(() => document.querySelector('#save-status')?.textContent === 'Saved')
  }
  console.log(JSON.stringify({ ok: true, userAgent: await browser.version() }))
} finally {
  await browser.close()
}
