// The sign-in and sign-up view, the 'check your mail' page after a sign-up,
// and opening the link a sign-up mailed (#/verify?token=…).

import { auth } from '../api.js';
import { go, render, resetData, stopDashboard } from '../app.js';
import { h, replace } from '../dom.js';
import { root, state } from '../state.js';
import { brand } from './common.js';

export function renderAuth(mode, notice) {
  const signup = mode === 'signup';
  const error = h('div', { class: 'form-error', role: 'alert', id: 'auth-error', hidden: true });
  const email = h('input', {
    id: 'email', name: 'email', type: 'email', required: true, autocomplete: signup ? 'email' : 'username',
    inputmode: 'email', spellcheck: 'false', 'aria-describedby': 'auth-error',
  });
  const password = h('input', {
    id: 'password', name: 'password', type: 'password', required: true,
    autocomplete: signup ? 'new-password' : 'current-password',
    minlength: signup ? 10 : null, 'aria-describedby': signup ? 'password-hint auth-error' : 'auth-error',
  });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block' }, signup ? 'Create account' : 'Sign in');
  const form = h('form', { class: 'auth-form', novalidate: false },
    h('div', { class: 'field' }, h('label', { for: 'email' }, 'Email'), email),
    h('div', { class: 'field' },
      h('label', { for: 'password' }, 'Password'), password,
      signup ? h('p', { class: 'hint', id: 'password-hint' }, 'At least 10 characters.') : null),
    error,
    submit,
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.hidden = true;
    email.removeAttribute('aria-invalid');
    password.removeAttribute('aria-invalid');
    submit.disabled = true;
    submit.textContent = signup ? 'Creating account…' : 'Signing in…';
    try {
      const res = await auth(signup ? 'signup' : 'login', { email: email.value.trim(), password: password.value });
      if (signup) {
        // The account exists once the link mailed to the address is opened.
        history.replaceState(null, '', '#/signin');
        renderCheckMail(res.email);
        return;
      }
      state.user = res.user;
      resetData();
      go('/');
    } catch (e) {
      error.textContent = e.message;
      error.hidden = false;
      const field = /password/i.test(e.message) ? password : /email/i.test(e.message) ? email : null;
      if (field) field.setAttribute('aria-invalid', 'true');
      else if (e.code === 'unauthorized') password.setAttribute('aria-invalid', 'true');
      submit.disabled = false;
      submit.textContent = signup ? 'Create account' : 'Sign in';
      (field || password).focus();
    }
  });

  replace(root,
    h('main', { class: 'auth', id: 'main' },
      h('div', { class: 'auth-card' },
        brand(),
        h('h1', null, signup ? 'Create your account' : 'Sign in to Pulse'),
        h('p', { class: 'muted' }, signup
          ? 'Track followers and posts across Facebook, Instagram, X and LinkedIn.'
          : 'Welcome back. Your social analytics are waiting.'),
        notice ? h('p', { class: 'notice', role: 'status' }, notice) : null,
        form,
        h('p', { class: 'auth-switch' }, signup ? 'Already have an account? ' : 'New to Pulse? ',
          h('a', { href: signup ? '#/signin' : '#/signup' }, signup ? 'Sign in' : 'Create an account')),
      )));
  document.title = (signup ? 'Create account' : 'Sign in') + ' · Pulse';
  email.focus();
}

/** After a sign-up: the account is created by the link mailed to email. */
function renderCheckMail(email) {
  replace(root,
    h('main', { class: 'auth', id: 'main' },
      h('div', { class: 'auth-card' },
        brand(),
        h('h1', { tabindex: '-1', id: 'check-mail' }, 'Check your mail'),
        h('p', { class: 'notice', role: 'status' },
          `We sent a link to ${email}. Open it within 24 hours to finish creating your account.`),
        h('p', { class: 'muted' }, 'If this address already has an account, the mail tells you so instead.'),
        h('p', { class: 'auth-switch' }, h('a', { href: '#/signin' }, 'Back to sign in')))));
  document.title = 'Check your mail · Pulse';
  document.getElementById('check-mail').focus();
}

/** Opens the link a sign-up mailed (token): creates the account and signs in. */
export async function verifySignUp(token) {
  // The token leaves the address bar (and history) at once.
  history.replaceState(null, '', '#/signin');
  replace(root, h('main', { class: 'auth', id: 'main' }, h('div', { class: 'auth-card' }, brand(),
    h('h1', null, 'Creating your account…'))));
  try {
    const res = await auth('verify', { token });
    stopDashboard();
    state.user = res.user;
    resetData();
    go('/');
  } catch (e) {
    render(e.status === 404
      ? 'That link is invalid, already used or expired. Sign up again to get a new one.'
      : e.message);
  }
}
