/* Support console: the queue, one ticket's detail and its live conversation.
 *
 * Every piece of text goes into the page through textContent, never parsed as markup: ticket
 * summaries, notes and transcripts hold what customers typed. The queue and the watched
 * conversation arrive over one websocket; actions are JSON POSTs carrying the CSRF token.
 */
(function () {
  'use strict';

  const state = {
    csrf: '',
    supervisor: false,
    tickets: [],
    receivedAt: Date.now(),
    selected: null,   // ticket number shown in the detail panel
    detail: null,     // its last detail answer
    lastSeq: -1,      // last transcript line shown
    socket: null,
    retryMs: 1000,
  };

  const $ = (id) => document.getElementById(id);

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function say(message, isError) {
    const status = $('status');
    status.textContent = message || '';
    status.classList.toggle('error', Boolean(isError));
  }

  function signIn() {
    window.location.assign('/console/sign-in');
  }

  const words = (value) => String(value || '').replace(/_/g, ' ');

  function money(amount) {
    const [whole, cents] = String(amount).split('.');
    return '$' + whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',') + '.' + (cents || '00');
  }

  function clock(iso) {
    const at = new Date(iso);
    return isNaN(at) ? '' : at.toLocaleString([], { dateStyle: 'short', timeStyle: 'short' });
  }

  async function api(method, path, body) {
    const options = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
    if (method !== 'GET') {
      options.headers['X-CSRF-Token'] = state.csrf;
      options.headers['Content-Type'] = 'application/json';
      options.body = JSON.stringify(body || {});
    }
    const response = await fetch(path, options);
    if (response.status === 401) {
      signIn();
      throw new Error('Your session has ended. Please sign in again.');
    }
    let data = {};
    try {
      data = await response.json();
    } catch (ignored) {
      data = {};
    }
    if (!response.ok) throw new Error(data.error || 'The console answered ' + response.status + '.');
    return data;
  }

  const ticketPath = (number, action) =>
    '/console/api/tickets/' + encodeURIComponent(number) + (action ? '/' + action : '');

  // --- queue ---------------------------------------------------------------------------

  function duration(seconds) {
    const minutes = Math.floor(seconds / 60);
    if (minutes < 60) return minutes + ' min';
    if (minutes < 48 * 60) return Math.floor(minutes / 60) + ' h ' + (minutes % 60) + ' min';
    return Math.floor(minutes / (24 * 60)) + ' days';
  }

  function waited(ticket) {
    let seconds = ticket.waiting_seconds;
    if (ticket.status === 'queued') seconds += (Date.now() - state.receivedAt) / 1000;
    return duration(seconds);
  }

  function queueItem(ticket) {
    const item = el('li', 'ticket priority-' + ticket.priority);
    const button = el('button', 'open-ticket');
    button.type = 'button';
    button.dataset.ticket = ticket.ticket_number;
    if (ticket.ticket_number === state.selected) button.setAttribute('aria-current', 'true');
    let meta = 'waiting ' + waited(ticket);
    if (ticket.assigned_to) meta += ' · held by ' + ticket.assigned_to + (ticket.mine ? ' (you)' : '');
    if (ticket.followup) meta += ' · asked for a follow-up by ' + ticket.followup;
    button.append(
      el('span', 'ticket-head', ticket.ticket_number + ' · P' + ticket.priority + ' · ' +
        words(ticket.reason) + ' · ' + ticket.status),
      el('span', 'ticket-customer', ticket.customer + ' · ' + ticket.channel),
      el('span', 'ticket-summary', ticket.summary),
      el('span', 'meta', meta),
    );
    item.appendChild(button);
    return item;
  }

  function renderQueue() {
    const list = $('queue');
    const focused = document.activeElement && document.activeElement.dataset
      ? document.activeElement.dataset.ticket : undefined;
    list.replaceChildren(...state.tickets.map(queueItem));
    if (!state.tickets.length) list.appendChild(el('li', 'empty', 'Nobody is waiting.'));
    $('queue-count').textContent = '(' + state.tickets.length + ')';
    if (focused) {  // re-rendering must not throw keyboard users out of the list
      const again = list.querySelector('button[data-ticket="' + CSS.escape(focused) + '"]');
      if (again) again.focus();
    }
  }

  function onQueue(tickets) {
    state.tickets = tickets;
    state.receivedAt = Date.now();
    renderQueue();
    if (!state.selected || !state.detail) return;
    const row = tickets.find((ticket) => ticket.ticket_number === state.selected);
    const shown = state.detail;
    if (row && (row.status !== shown.status || row.assigned_to !== shown.assigned_to)) {
      refreshDetail();  // claimed, resolved or closed elsewhere
    }
  }

  // --- detail --------------------------------------------------------------------------

  function facts(pairs) {
    const list = el('dl', 'facts');
    pairs.filter((pair) => pair[1] !== null && pair[1] !== undefined && pair[1] !== '')
      .forEach(([term, value]) => list.append(el('dt', '', term), el('dd', '', value)));
    return list;
  }

  function accountFacts(account) {
    if (account.product === 'lease') {
      return facts([
        ['Account', account.account_masked + ' (lease)'],
        ['Vehicle', account.vehicle],
        ['Payments left', account.remaining_payments + ' × ' + money(account.monthly_payment)],
        ['Residual value', money(account.residual_value)],
        ['Lease ends', account.maturity_date],
        ['Next payment due', account.next_payment_due],
        ['Past due', money(account.past_due_amount) + ' (' + account.days_past_due + ' days)'],
      ]);
    }
    return facts([
      ['Account', account.account_masked + ' (loan)'],
      ['Vehicle', account.vehicle],
      ['Principal balance', money(account.principal_balance)],
      ['Next payment', money(account.next_payment_amount) + ' due ' + account.next_payment_due],
      ['Past due', money(account.past_due_amount) + ' (' + account.days_past_due + ' days)'],
    ]);
  }

  function renderNotes(notes) {
    $('notes').replaceChildren(...notes.map((note) => {
      const item = el('li');
      item.append(el('span', 'meta', note.author + ' · ' + clock(note.created_at)), el('br'),
        document.createTextNode(note.body));
      return item;
    }));
    if (!notes.length) $('notes').appendChild(el('li', 'empty', 'No notes yet.'));
  }

  function renderDetail(ticket) {
    const mine = ticket.mine;
    $('detail').hidden = false;
    $('detail-title').textContent = 'Ticket ' + ticket.ticket_number;
    const body = [facts([
      ['Status', ticket.status + (ticket.assigned_to ? ' by ' + ticket.assigned_to : '')],
      ['Reason', words(ticket.reason) + ' (priority ' + ticket.priority + ')'],
      ['Customer', ticket.customer_name || ticket.customer],
      ['Channel', ticket.channel],
      ['Waited', duration(ticket.waiting_seconds)],
      ['Follow-up', ticket.followup],
      ['Summary', ticket.summary],
    ])];
    const accounts = ticket.accounts && ticket.accounts.length ? ticket.accounts
      : (ticket.account ? [ticket.account] : []);
    if (accounts.length) {
      body.push(el('h3', '', accounts.length > 1 ? 'Accounts (read-only)' : 'Account (read-only)'),
        ...accounts.map(accountFacts));
    }
    $('detail-body').replaceChildren(...body);
    renderNotes(ticket.notes);
    const claimed = ticket.status === 'claimed';
    $('claim').hidden = ticket.status !== 'queued';
    $('resolve').hidden = !(claimed && (mine || state.supervisor));
    $('close').hidden = !((claimed && (mine || state.supervisor)) ||
      (ticket.status === 'queued' && state.supervisor));
    $('reply-form').hidden = !(claimed && mine);
  }

  function showTranscriptError(message) {
    $('transcript-error').textContent = message || '';
    $('transcript-error').hidden = !message;
  }

  function addLines(lines) {
    const list = $('transcript');
    lines.filter((line) => line.seq > state.lastSeq).forEach((line) => {
      const who = line.sender === 'customer' ? 'Customer'
        : line.sender === 'agent' ? (line.agent_name || 'Agent') : 'Assistant';
      const item = el('li', line.sender);
      item.append(el('span', 'meta', who + ' · ' + clock(line.at)), el('br'),
        document.createTextNode(line.text));
      list.appendChild(item);
      state.lastSeq = line.seq;
    });
    list.scrollTop = list.scrollHeight;
  }

  async function loadDetail(number) {
    const detail = await api('GET', ticketPath(number));
    if (state.selected !== number) return null;  // another ticket was opened meanwhile
    state.detail = detail;
    renderDetail(detail);
    return detail;
  }

  async function refreshDetail() {
    try {
      await loadDetail(state.selected);
    } catch (error) {
      say(error.message, true);
    }
  }

  async function openTicket(number) {
    state.selected = number;
    state.detail = null;
    renderQueue();
    $('transcript').replaceChildren();
    state.lastSeq = -1;
    try {
      const detail = await loadDetail(number);
      if (!detail) return;
      addLines(detail.transcript);
      showTranscriptError(detail.transcript_error);
      watch(number);
      say('');
    } catch (error) {
      $('detail').hidden = true;
      say(error.message, true);
    }
  }

  async function act(action, done) {
    const number = state.selected;
    try {
      const answer = await api('POST', ticketPath(number, action));
      say(answer.warning || done, Boolean(answer.warning));
    } catch (error) {
      say(error.message, true);
    }
    await refreshDetail();
  }

  // --- live updates --------------------------------------------------------------------

  function watch(number) {
    if (state.socket && state.socket.readyState === WebSocket.OPEN) {
      state.socket.send(JSON.stringify({ type: 'watch', ticket: number }));
    }
  }

  function onPush(message) {
    if (message.type === 'queue') {
      onQueue(message.tickets);
      return;
    }
    if (message.ticket && message.ticket !== state.selected) return;  // a ticket no longer shown
    if (message.type === 'transcript') {
      addLines(message.lines);
      showTranscriptError('');
    } else if (message.type === 'transcript_error') {
      showTranscriptError(message.error);
    } else if (message.type === 'error') {
      say(message.error, true);
    }
  }

  function connect() {
    const scheme = window.location.protocol === 'https:' ? 'wss://' : 'ws://';
    const socket = new WebSocket(scheme + window.location.host + '/console/ws');
    state.socket = socket;
    socket.addEventListener('open', () => {
      state.retryMs = 1000;
      if (state.selected) watch(state.selected);
    });
    socket.addEventListener('message', (event) => onPush(JSON.parse(event.data)));
    socket.addEventListener('close', (event) => {
      if (event.code === 4401) {
        signIn();
        return;
      }
      say('Live updates paused; reconnecting…', true);
      window.setTimeout(() => {
        api('GET', '/console/api/session').then(connect, () => window.setTimeout(connect, state.retryMs));
      }, state.retryMs);
      state.retryMs = Math.min(state.retryMs * 2, 30000);
    });
  }

  // --- start ---------------------------------------------------------------------------

  function wire() {
    $('queue').addEventListener('click', (event) => {
      const button = event.target.closest('button.open-ticket');
      if (button) openTicket(button.dataset.ticket);
    });
    $('claim').addEventListener('click', () => act('claim', 'Ticket claimed: the assistant is paused.'));
    $('resolve').addEventListener('click', () => {
      if (window.confirm('Resolve this ticket and hand the conversation back to the assistant?')) {
        act('resolve', 'Resolved: the assistant has the conversation back.');
      }
    });
    $('close').addEventListener('click', () => {
      if (window.confirm('Close this ticket without a hand-back?')) act('close', 'Ticket closed.');
    });
    $('reply-form').addEventListener('submit', async (event) => {
      event.preventDefault();
      const box = $('reply-text');
      try {
        await api('POST', ticketPath(state.selected, 'reply'), { text: box.value });
        box.value = '';
        say('Reply sent.');
      } catch (error) {
        say(error.message, true);
      }
    });
    $('note-form').addEventListener('submit', async (event) => {
      event.preventDefault();
      const box = $('note-body');
      try {
        await api('POST', ticketPath(state.selected, 'notes'), { body: box.value });
        box.value = '';
        say('Note added.');
        await refreshDetail();
      } catch (error) {
        say(error.message, true);
      }
    });
    window.setInterval(renderQueue, 30000);  // waiting minutes keep counting between pushes
  }

  async function start() {
    try {
      const session = await api('GET', '/console/api/session');
      state.csrf = session.csrf_token;
      state.supervisor = Boolean(session.staff && session.staff.role === 'supervisor');
      wire();
      onQueue((await api('GET', '/console/api/queue')).tickets);
      connect();
    } catch (error) {
      say(error.message, true);
    }
  }

  start();
}());
