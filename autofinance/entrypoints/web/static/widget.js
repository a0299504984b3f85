/* Meridian Auto Finance website chat widget.
 *
 * A launcher button and a chat panel over the official socket.io client (served by this site
 * from node_modules/, loaded before this file). It speaks Rasa's socket.io channel:
 * `session_request` / `session_confirm`, `user_uttered` / `bot_uttered`; a signed-in portal page
 * hands it a portal token, sent as the connection's `auth`, so the channel knows the customer.
 *
 * The conversation survives a reload (session id and rendered history in sessionStorage, one
 * conversation per scope: signing in or out starts another) and a network blip (socket.io
 * reconnects; every connect asks for the same session again). Message text only ever reaches the
 * page as text nodes: links, bold and line breaks are built with createElement, never innerHTML.
 */
(function () {
  "use strict";

  var root = document.getElementById("meridian-chat");
  if (!root) return;

  var STORE_KEY = "meridian-chat";
  var MAX_HISTORY = 200;
  var TYPING_TIMEOUT_MS = 30000; // a paused conversation (a person owns it) may never answer
  var config = {
    socketUrl: root.getAttribute("data-socket-url") || "",
    token: root.getAttribute("data-token") || "",
    scope: root.getAttribute("data-scope") || "anonymous",
    alerts: readAlerts(),
  };

  // Reminders a signed-in customer has not seen yet (the portal page lists them).
  function readAlerts() {
    try {
      var alerts = JSON.parse(root.getAttribute("data-alerts") || "[]");
      return Array.isArray(alerts) ? alerts.filter(function (a) {
        return a && typeof a.title === "string" && typeof a.id === "number";
      }) : [];
    } catch (error) {
      return [];
    }
  }

  // --- state, kept in sessionStorage -------------------------------------------------------

  function load() {
    try {
      var saved = JSON.parse(window.sessionStorage.getItem(STORE_KEY) || "null");
      if (saved && saved.scope === config.scope && Array.isArray(saved.history)) return saved;
    } catch (ignored) { /* storage blocked or corrupt: start afresh */ }
    return { scope: config.scope, sessionId: null, open: false, history: [] };
  }

  var state = load();

  function save() {
    state.history = state.history.slice(-MAX_HISTORY);
    try {
      window.sessionStorage.setItem(STORE_KEY, JSON.stringify(state));
    } catch (ignored) { /* private mode: the conversation just won't survive a reload */ }
  }
  save(); // a new scope (signed in or out) replaces the previous conversation at once

  // --- DOM ----------------------------------------------------------------------------------

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text) node.textContent = text;
    return node;
  }

  function bubbleIcon() {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("class", "mc-launcher-icon");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var path = document.createElementNS(ns, "path");
    path.setAttribute("d", "M4 4h16a2 2 0 0 1 2 2v9a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z");
    svg.appendChild(path);
    return svg;
  }

  var launcher = el("button", "mc-launcher");
  launcher.type = "button";
  launcher.setAttribute("aria-expanded", "false");
  launcher.setAttribute("aria-controls", "mc-panel");
  launcher.appendChild(bubbleIcon());
  launcher.appendChild(el("span", null, "Chat with us"));
  var unread = el("span", "mc-unread");
  launcher.appendChild(unread);
  var alertBadge = el("span", "mc-alert-count");
  launcher.appendChild(alertBadge);

  var panel = el("section", "mc-panel");
  panel.id = "mc-panel";
  panel.hidden = true;
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-modal", "false");
  panel.setAttribute("aria-labelledby", "mc-title");

  var header = el("div", "mc-header");
  var title = el("h2", "mc-title", "Meridian assistant");
  title.id = "mc-title";
  var closeButton = el("button", "mc-close");
  closeButton.type = "button";
  closeButton.setAttribute("aria-label", "Close chat");
  closeButton.appendChild(el("span", null, "\u00D7")).setAttribute("aria-hidden", "true");
  header.appendChild(title);
  header.appendChild(closeButton);

  var status = el("p", "mc-status");
  status.setAttribute("role", "status");

  var log = el("div", "mc-log");
  log.setAttribute("role", "log");
  log.setAttribute("aria-live", "polite");
  log.setAttribute("aria-label", "Conversation");
  log.tabIndex = 0; // scrollable by keyboard

  var intro = el("p", "mc-intro", config.token
    ? "You're signed in, so the assistant can look at your account right away. Ask about your " +
      "balance, a payment, a payoff quote, or ask for a person."
    : "Ask about your balance, a payment, a payoff quote or online access, or ask for a person. " +
      "For anything about your account, the assistant first confirms it's you.");

  var alertList = el("section", "mc-alerts");
  alertList.setAttribute("aria-label", "Alerts");
  alertList.hidden = !config.alerts.length;
  alertList.appendChild(el("h3", "mc-alerts-title", "New alerts"));
  var alertItems = el("ul");
  config.alerts.forEach(function (alert) { alertItems.appendChild(el("li", null, alert.title)); });
  alertList.appendChild(alertItems);
  if (config.alerts.length) {
    alertBadge.textContent = " (" + config.alerts.length + (config.alerts.length === 1 ? " alert)" : " alerts)");
    launcher.classList.add("mc-has-unread");
  }

  // Opened with alerts listed: the portal records them as read (they stay listed until reload).
  function alertsSeen() {
    if (!config.alerts.length || alertBadge.textContent === "") return;
    alertBadge.textContent = "";
    launcher.classList.remove("mc-has-unread");
    window.fetch("/demo/alerts/read", {
      method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ ids: config.alerts.map(function (a) { return a.id; }) }),
    }).catch(function () { /* shown again on the next page: nothing lost */ });
  }

  var typing = el("div", "mc-typing");
  typing.setAttribute("role", "status");
  var typingDots = el("span", "mc-dots");
  typingDots.setAttribute("aria-hidden", "true");
  typingDots.appendChild(el("span"));
  typingDots.appendChild(el("span"));
  typingDots.appendChild(el("span"));

  var form = el("form", "mc-form");
  var label = el("label", "mc-sr", "Your message");
  label.htmlFor = "mc-input";
  var input = el("input", "mc-input");
  input.id = "mc-input";
  input.type = "text";
  input.autocomplete = "off";
  input.maxLength = 1000;
  input.placeholder = "Type your message";
  var sendButton = el("button", "mc-send", "Send");
  sendButton.type = "submit";
  form.appendChild(label);
  form.appendChild(input);
  form.appendChild(sendButton);

  panel.appendChild(header);
  panel.appendChild(status);
  panel.appendChild(alertList);
  panel.appendChild(log);
  panel.appendChild(typing);
  panel.appendChild(form);
  root.appendChild(launcher);
  root.appendChild(panel); // after the launcher: Tab goes from the launcher into the panel

  // --- message rendering ------------------------------------------------------------------

  var URL_PATTERN = /https?:\/\/[^\s<>"']+/g;

  function appendLinked(parent, text) {
    var last = 0;
    var match;
    URL_PATTERN.lastIndex = 0;
    while ((match = URL_PATTERN.exec(text)) !== null) {
      var url = match[0].replace(/[.,;:!?)\]}]+$/, ""); // sentence punctuation is not the link's
      if (match.index > last) parent.appendChild(document.createTextNode(text.slice(last, match.index)));
      var link = el("a", null, url);
      link.href = url;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      parent.appendChild(link);
      last = match.index + url.length;
      URL_PATTERN.lastIndex = last;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  }

  /* **bold** needs a word inside and no asterisk around it, so masked values such as
     m****@example.com or ***-***-0101 stay as they are. */
  var BOLD_PATTERN = /(?<!\*)\*\*([^*\s](?:[^*]*[^*\s])?)\*\*(?!\*)/;

  /* Line breaks, **bold** and http(s) links; everything else stays plain text. */
  function appendFormatted(parent, text) {
    String(text).split("\n").forEach(function (line, index) {
      if (index > 0) parent.appendChild(document.createElement("br"));
      line.split(BOLD_PATTERN).forEach(function (part, position) {
        if (!part) return;
        appendLinked(position % 2 ? parent.appendChild(el("strong")) : parent, part);
      });
    });
  }

  function clearReplies() {
    var groups = log.querySelectorAll(".mc-replies");
    for (var i = 0; i < groups.length; i += 1) groups[i].remove();
  }

  function renderEntry(entry, withButtons) {
    var fromBot = entry.from === "bot";
    var bubble = el("div", "mc-msg " + (fromBot ? "mc-bot" : "mc-user"));
    bubble.appendChild(el("span", "mc-sr", fromBot ? "Assistant: " : "You: "));
    var body = el("div", "mc-text");
    appendFormatted(body, entry.text || "");
    bubble.appendChild(body);
    if (fromBot && withButtons && entry.buttons && entry.buttons.length) {
      var group = el("div", "mc-replies");
      group.setAttribute("role", "group");
      group.setAttribute("aria-label", "Suggested replies");
      entry.buttons.forEach(function (button) {
        var choice = el("button", "mc-reply", button.title);
        choice.type = "button";
        choice.addEventListener("click", function () {
          send(button.payload, button.title);
        });
        group.appendChild(choice);
      });
      bubble.appendChild(group);
    }
    log.appendChild(bubble);
  }

  function scrollToEnd() {
    log.scrollTop = log.scrollHeight;
  }

  function renderHistory() {
    log.textContent = "";
    log.appendChild(intro);
    state.history.forEach(function (entry, index) {
      renderEntry(entry, index === state.history.length - 1);
    });
    scrollToEnd();
  }

  function addEntry(entry) {
    clearReplies(); // quick replies belong to the latest assistant message only
    state.history.push(entry);
    save();
    renderEntry(entry, true);
    scrollToEnd();
  }

  // --- typing indicator and status ----------------------------------------------------------

  var typingTimer = null;

  function setTyping(on) {
    window.clearTimeout(typingTimer);
    typing.textContent = "";
    typing.classList.toggle("mc-visible", on);
    if (on) {
      typing.appendChild(typingDots);
      typing.appendChild(el("span", "mc-sr", "The assistant is typing"));
      typingTimer = window.setTimeout(function () { setTyping(false); }, TYPING_TIMEOUT_MS);
    }
  }

  function setStatus(text) {
    status.textContent = text;
    status.classList.toggle("mc-visible", Boolean(text));
  }

  // --- the socket.io channel ---------------------------------------------------------------

  var socket = null;
  var ready = false; // connected and the session confirmed: messages may go out
  var pending = []; // typed while (re)connecting; sent once the session is confirmed

  function metadata() {
    var data = { page: window.location.pathname, locale: navigator.language || "" };
    try {
      data.timezone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    } catch (ignored) { /* an old browser: no time zone */ }
    return data;
  }

  function flush() {
    if (!ready) return;
    while (pending.length) {
      socket.emit("user_uttered", { message: pending.shift(), metadata: metadata() });
    }
  }

  function onBotMessage(message) {
    if (!message || typeof message !== "object") return;
    var text = typeof message.text === "string" ? message.text : "";
    var raw = message.buttons || message.quick_replies || [];
    var buttons = (Array.isArray(raw) ? raw : []).filter(function (button) {
      return button && typeof button.title === "string";
    }).map(function (button) {
      return { title: button.title, payload: typeof button.payload === "string" ? button.payload : button.title };
    });
    if (!text && !buttons.length) return; // attachments and custom payloads: not shown here
    setTyping(false);
    addEntry({ from: "bot", text: text, buttons: buttons });
    if (panel.hidden) setUnread(true); // e.g. an agent answered while the panel was closed
  }

  function setUnread(on) {
    unread.textContent = on ? " (new message)" : "";
    launcher.classList.toggle("mc-has-unread", on);
  }

  function connect() {
    if (socket) return;
    if (typeof window.io !== "function") {
      setStatus("The chat could not load. Please reload the page.");
      return;
    }
    setStatus("Connecting\u2026");
    socket = window.io(config.socketUrl, {
      transports: ["websocket"],
      auth: config.token ? { token: config.token } : {},
      reconnectionDelay: 1000,
      reconnectionDelayMax: 5000,
    });
    socket.on("connect", function () {
      // Every (re)connect is a new socket on the server: ask for our conversation again.
      socket.emit("session_request", { session_id: state.sessionId });
    });
    socket.on("session_confirm", function (session) {
      var id = typeof session === "string" ? session : session && session.session_id;
      if (id) {
        state.sessionId = id;
        save();
      }
      ready = true;
      setStatus("");
      flush();
    });
    socket.on("bot_uttered", onBotMessage);
    socket.on("disconnect", function (reason) {
      ready = false;
      if (reason === "io server disconnect") socket.connect(); // the server closed it: try again
      setStatus("Connection lost. Reconnecting\u2026");
    });
    socket.on("connect_error", function () {
      ready = false;
      if (socket.active) {
        setStatus("Can't reach the assistant. Retrying\u2026");
      } else if (config.token) { // refused: the portal sign-in is no longer valid
        setStatus("Your sign-in has expired. Please reload the page to chat.");
      } else {
        setStatus("The chat is not available right now. Please try again later.");
      }
    });
  }

  function send(text, shown) {
    var message = String(text || "").trim();
    if (!message) return;
    addEntry({ from: "user", text: shown || message });
    pending.push(message);
    setTyping(true);
    connect();
    flush();
  }

  // --- opening, closing, keyboard -----------------------------------------------------------

  function open() {
    panel.hidden = false;
    root.classList.add("mc-open");
    launcher.setAttribute("aria-expanded", "true");
    setUnread(false);
    alertsSeen();
    state.open = true;
    save();
    scrollToEnd();
    connect();
    input.focus();
  }

  function close() {
    panel.hidden = true;
    root.classList.remove("mc-open");
    launcher.setAttribute("aria-expanded", "false");
    state.open = false;
    save();
    launcher.focus();
  }

  launcher.addEventListener("click", function () {
    if (panel.hidden) open(); else close();
  });
  closeButton.addEventListener("click", close);
  root.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && !panel.hidden) {
      event.preventDefault();
      close();
    }
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value;
    input.value = "";
    send(text);
    input.focus();
  });

  renderHistory();
  if (state.open) {
    open(); // reopened after a reload, where the customer left it
  } else if (state.history.length) {
    connect(); // closed but mid-conversation: keep listening (an agent may answer)
  }
}());
