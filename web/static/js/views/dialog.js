// Dialogs: a modal confirmation with an optional password field.

import { h } from '../dom.js';

let dialogSeq = 0;

/**
 * Opens a modal confirmation (body: strings become paragraphs, nodes are
 * kept). onConfirm(password) runs on submit; when it
 * throws, its message is shown and the dialog stays open. Resolves true
 * once onConfirm succeeded, false when cancelled.
 */
export function openDialog({ title, body, confirmLabel, busyLabel, password = false, opener, onConfirm, confirmClass = 'btn-danger' }) {
  return new Promise((resolve) => {
    const id = 'dialog-' + ++dialogSeq;
    let busy = false;
    let done = false;
    const error = h('p', { class: 'form-error', role: 'alert', id: 'dialog-error', hidden: true });
    const input = password ? h('input', {
      id: 'dialog-password', name: 'password', type: 'password', autocomplete: 'current-password',
      required: true, 'aria-describedby': 'dialog-error',
    }) : null;
    const confirm = h('button', { type: 'submit', class: ['btn', confirmClass, 'dialog-confirm'] }, confirmLabel);
    const cancel = h('button', {
      type: 'button', class: 'btn dialog-cancel',
      onclick: () => {
        if (!busy) dlg.close();
      },
    }, 'Cancel');
    const setBusy = (b) => {
      busy = b;
      confirm.disabled = b;
      cancel.disabled = b;
      confirm.textContent = b ? busyLabel : confirmLabel;
    };
    const form = h('form', { class: 'dialog-body', novalidate: true },
      h('h2', { id: id + '-title' }, title),
      h('div', { id: id + '-desc', class: 'dialog-text' }, body.map((t) => (typeof t === 'string' ? h('p', null, t) : t))),
      input ? h('div', { class: 'field' }, h('label', { for: 'dialog-password' }, 'Password'), input) : null,
      error,
      h('div', { class: 'dialog-actions' }, cancel, confirm));
    const dlg = h('dialog', { class: 'dialog', 'aria-labelledby': id + '-title', 'aria-describedby': id + '-desc' }, form);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      if (busy) return;
      setBusy(true);
      error.hidden = true;
      input?.removeAttribute('aria-invalid');
      try {
        await onConfirm(input?.value);
        done = true;
        dlg.close();
      } catch (e) {
        setBusy(false);
        error.textContent = e.message;
        error.hidden = false;
        if (input) {
          input.setAttribute('aria-invalid', 'true');
          input.select();
          input.focus();
        } else {
          confirm.focus();
        }
      }
    });
    dlg.addEventListener('cancel', (ev) => {
      if (busy) ev.preventDefault(); // Escape while the request runs
    });
    dlg.addEventListener('close', () => {
      dlg.remove();
      resolve(done);
      if (opener?.isConnected) opener.focus();
    });
    document.body.append(dlg);
    dlg.showModal();
    (input || cancel).focus(); // the safe choice first
  });
}

export function closeDialogs() {
  for (const d of document.querySelectorAll('dialog.dialog[open]')) d.close();
}
