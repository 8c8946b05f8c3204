// In-page form dialogs (rename, share) instead of prompt(): a modal <dialog> keeps
// focus inside it (the rest of the page is inert while it is open), Escape closes it,
// focus goes back to the button that opened it, and a refusal from the server is
// shown inside the form, next to what the writer typed, rather than in a popup.
import './dialog.css'
import { ApiError } from './api'
import { h } from './dom'

let counter = 0

export interface FormDialogOptions {
  title: string
  submit: string
  // The form's labelled controls; the first one gets the focus.
  fields: HTMLElement[]
  // Resolves when done (the dialog closes); throws to show the error in the form.
  onSubmit: () => Promise<void>
}

// Opens the dialog; resolves true once submitted successfully, false if cancelled.
export function formDialog(opts: FormDialogOptions): Promise<boolean> {
  const id = `dialog-${++counter}`
  const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null
  const error = h('p', { class: 'error', role: 'alert', id: `${id}-error` })
  const submit = h('button', { type: 'submit', class: 'primary' }, opts.submit) as HTMLButtonElement
  const cancel = h('button', { type: 'button', value: 'cancel' }, 'Cancel') as HTMLButtonElement
  const form = h(
    'form',
    { method: 'dialog', 'aria-describedby': `${id}-error` },
    h('h2', { id: `${id}-title` }, opts.title),
    ...opts.fields,
    error,
    h('div', { class: 'row dialog-buttons' }, submit, cancel),
  ) as HTMLFormElement
  const dialog = h('dialog', { class: 'card form-dialog', 'aria-labelledby': `${id}-title`, id }, form) as HTMLDialogElement
  document.body.append(dialog)

  return new Promise((resolve) => {
    let done = false
    const finish = (ok: boolean) => {
      if (dialog.open) dialog.close()
      dialog.remove()
      if (opener?.isConnected) opener.focus()
      resolve(ok)
    }
    dialog.addEventListener('close', () => {
      if (!done) finish(false)
    })
    cancel.addEventListener('click', () => dialog.close())
    // showModal makes the page inert, but Tab can still leave for the browser's own
    // controls; keep it cycling through the dialog.
    dialog.addEventListener('keydown', (event) => {
      if (event.key !== 'Tab') return
      const stops = [...dialog.querySelectorAll<HTMLElement>('input, select, button')].filter((x) => !x.hasAttribute('disabled'))
      const first = stops[0]
      const last = stops[stops.length - 1]
      if (event.shiftKey && document.activeElement === first) {
        event.preventDefault()
        last.focus()
      } else if (!event.shiftKey && document.activeElement === last) {
        event.preventDefault()
        first.focus()
      }
    })
    form.addEventListener('submit', async (event) => {
      event.preventDefault()
      if (submit.disabled) return
      error.textContent = ''
      submit.disabled = true
      form.setAttribute('aria-busy', 'true')
      try {
        await opts.onSubmit()
        done = true
        finish(true)
      } catch (err) {
        error.textContent =
          err instanceof ApiError || err instanceof Error ? err.message : String(err)
        form.querySelector<HTMLElement>('input, select')?.focus()
      } finally {
        submit.disabled = false
        form.removeAttribute('aria-busy')
      }
    })
    dialog.showModal()
    ;(opts.fields.find((f) => f.matches('input, select')) ?? form.querySelector<HTMLElement>('input, select'))?.focus()
  })
}

// A label and its control, for the dialogs' forms.
export function field(label: string, control: HTMLElement): HTMLElement[] {
  control.id ||= `field-${++counter}`
  return [h('label', { for: control.id }, label), control]
}
