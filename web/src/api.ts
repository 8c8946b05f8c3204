// HTTP calls to Draftroom's API. The session lives in an HttpOnly cookie; writes carry
// the CSRF token from the (readable) draftroom_csrf cookie. No token ever goes in a URL.

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
  ) {
    super(message)
  }
}

export function csrfToken(): string {
  const m = document.cookie.match(/(?:^|;\s*)draftroom_csrf=([^;]*)/)
  return m ? decodeURIComponent(m[1]) : ''
}

// Set by main.ts: what to do when the session has expired (401 on any call).
export let onExpired: (message: string) => void = () => {}
export function setOnExpired(fn: (message: string) => void): void {
  onExpired = fn
}

export async function api<T = any>(
  method: string,
  path: string,
  body?: unknown,
  { quiet401 = false, signal }: { quiet401?: boolean; signal?: AbortSignal } = {},
): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' }
  if (body !== undefined) headers['Content-Type'] = 'application/json'
  if (method !== 'GET' && method !== 'HEAD') headers['X-CSRF-Token'] = csrfToken()
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
    signal,
  })
  if (res.status === 204) return undefined as T
  const data = await res.json().catch(() => ({}))
  if (!res.ok) {
    const err = new ApiError(res.status, data.error ?? 'error', data.message ?? res.statusText)
    if (res.status === 401 && !quiet401) onExpired('Your session has expired. Please log in again.')
    throw err
  }
  return data as T
}

export interface Me {
  id: string
  username: string
  admin: boolean
  via: string
}

export interface DocMeta {
  id: string
  title: string
  created_at?: number | string
  updated_at?: number | string
  // The caller's role on it (GET /api/documents): what the list offers to do.
  role?: 'owner' | 'editor' | 'commenter' | 'viewer' | null
  [key: string]: unknown
}
