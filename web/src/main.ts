// The app shell: a three-route client-side router (/login, /, /d/<id>) and the session.
import './style.css'
import { api, ApiError, setOnExpired, type Me } from './api'
import { announce, h, navigate } from './dom'
import { discardWarm, openWarm, socketUrl } from './warmsocket'

let me: Me | null = null
let cleanup: (() => void) | null = null
let flash = ''

const main = document.getElementById('main')!
const nav = document.getElementById('nav')!

setOnExpired((message) => {
  me = null
  flash = message
  const here = location.pathname
  if (here !== '/login') sessionStorage.setItem('draftroom.next', here)
  navigate('/login')
})

document.addEventListener('click', (event) => {
  const a = (event.target as HTMLElement).closest?.('a[data-link]') as HTMLAnchorElement | null
  if (!a || event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return
  event.preventDefault()
  navigate(a.getAttribute('href')!)
})

window.addEventListener('popstate', () => void route())

function renderNav(): void {
  nav.replaceChildren()
  if (!me) return
  nav.append(h('span', { class: 'who' }, me.username))
  if (me.via === 'session') {
    nav.append(h('button', { type: 'button', class: 'link', onclick: () => void logout() }, 'Log out'))
  }
}

async function logout(): Promise<void> {
  try {
    await api('DELETE', '/api/sessions', undefined, { quiet401: true })
  } catch {
    // Already gone server-side: the outcome is the same.
  }
  me = null
  flash = 'You are logged out.'
  navigate('/login')
}

async function loadMe(): Promise<Me | null> {
  try {
    return await api<Me>('GET', '/api/me', undefined, { quiet401: true })
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return null
    throw err
  }
}

function loginView(): void {
  const error = h('p', { class: 'error', role: 'alert', id: 'login-error' }, flash)
  flash = ''
  const user = h('input', {
    id: 'username',
    name: 'username',
    autocomplete: 'username',
    required: true,
    autocapitalize: 'none',
  }) as HTMLInputElement
  const pass = h('input', {
    id: 'password',
    name: 'password',
    type: 'password',
    autocomplete: 'current-password',
    required: true,
  }) as HTMLInputElement
  const form = h(
    'form',
    { class: 'card login', 'aria-labelledby': 'login-title' },
    h('h1', { id: 'login-title' }, 'Log in'),
    error,
    h('label', { for: 'username' }, 'Username'),
    user,
    h('label', { for: 'password' }, 'Password'),
    pass,
    h('button', { type: 'submit', class: 'primary' }, 'Log in'),
  ) as HTMLFormElement
  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    error.textContent = ''
    try {
      await api('POST', '/api/sessions', { username: user.value, password: pass.value })
      me = await loadMe()
      const next = sessionStorage.getItem('draftroom.next') || '/'
      sessionStorage.removeItem('draftroom.next')
      navigate(next)
    } catch (err) {
      error.textContent =
        err instanceof ApiError && err.status === 401
          ? 'Wrong username or password.'
          : err instanceof Error
            ? err.message
            : String(err)
      pass.focus()
    }
  })
  main.replaceChildren(form)
  document.title = 'Log in · Draftroom'
  user.focus()
}

async function route(): Promise<void> {
  cleanup?.()
  cleanup = null
  discardWarm()
  const path = location.pathname
  if (path === '/login') {
    renderNav()
    loginView()
    return
  }
  if (path.startsWith('/d/')) {
    // The editor does not wait for /api/me: its socket authenticates by itself (a 4401
    // close means the session is gone), and the name shown to others follows when known.
    const docId = decodeURIComponent(path.slice(3))
    openWarm(socketUrl(docId)) // connects while the editor's code downloads and compiles
    const code = import('./editor')
    const who = me ? Promise.resolve(me) : loadMe()
    void who.then((m) => {
      if (!m) {
        sessionStorage.setItem('draftroom.next', path)
        if (location.pathname !== '/login') navigate('/login')
        return
      }
      me = m
      renderNav()
    })
    const { mountEditor } = await code
    cleanup = mountEditor(main, docId, who)
  } else {
    const code = import('./list')
    if (!me) me = await loadMe()
    if (!me) {
      sessionStorage.setItem('draftroom.next', path)
      navigate('/login')
      return
    }
    renderNav()
    const { mountList } = await code
    cleanup = mountList(main, me)
  }
  main.focus({ preventScroll: true })
  announce(document.title)
}

void route()
