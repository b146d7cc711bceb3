// gridshop sandbox web chat. Plain JavaScript, no build step, nothing loaded from elsewhere.
// Everything shown arrives on one EventSource (/api/events); actions are POSTs to /api/...
"use strict";

const state = {
  bot: null,
  users: [],            // User dicts + is_admin, blocked
  current: null,        // user id of the open chat
  chats: new Map(),     // user id -> Map(message_id -> event)
  unread: new Map(),    // user id -> count
  commands: new Map(),  // user id -> [{command, description}]
  operator: null,
  stripe: [],
};

const $ = (sel) => document.querySelector(sel);
const el = (tag, cls, text) => {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
};
const COLORS = ["#e17076", "#7bc862", "#65aadd", "#a695e7", "#ee7aae", "#6ec9cb", "#faa774"];
const colorOf = (id) => COLORS[Math.abs(Number(id)) % COLORS.length];

async function api(path, body) {
  const response = await fetch(path, {
    method: body === undefined ? "GET" : "POST",
    headers: {"Content-Type": "application/json"},
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

// ---------------------------------------------------------------- toasts and dialogs

function toast(text) {
  const node = el("div", "toast", text);
  $("#toasts").appendChild(node);
  setTimeout(() => node.remove(), 3500);
}

function modal(content, {onClose} = {}) {
  const back = el("div", "modal-back");
  back.appendChild(content);
  const close = () => { back.remove(); if (onClose) onClose(); };
  back.addEventListener("click", (e) => { if (e.target === back) close(); });
  document.body.appendChild(back);
  return close;
}

function alertBox(text, title) {
  const box = el("div", "modal alert");
  box.setAttribute("role", "alertdialog");
  const body = el("div", "modal-body");
  body.appendChild(el("div", "modal-title", title || (state.bot ? state.bot.first_name : "Bot")));
  body.appendChild(el("div", "alert-text", text));
  box.appendChild(body);
  const actions = el("div", "actions");
  const ok = el("button", "", "OK");
  actions.appendChild(ok);
  box.appendChild(actions);
  const close = modal(box);
  ok.addEventListener("click", close);
  ok.focus();
}

// ---------------------------------------------------------------- text with entities

function entityNode(entity, text) {
  switch (entity.type) {
    case "bold": return el("b");
    case "italic": return el("i");
    case "underline": return el("u");
    case "strikethrough": return el("s");
    case "code": return el("code");
    case "pre": return el("pre");
    case "blockquote": case "expandable_blockquote": return el("blockquote");
    case "spoiler": {
      const node = el("span", "spoiler");
      node.addEventListener("click", () => node.classList.add("shown"));
      return node;
    }
    case "text_link": case "url": {
      const node = el("a");
      node.href = entity.type === "url" ? (/^https?:/i.test(text) ? text : "http://" + text) : entity.url;
      node.addEventListener("click", (e) => { e.preventDefault(); openLink(node.href); });
      return node;
    }
    case "bot_command": {
      const node = el("a");
      node.href = "#";
      node.addEventListener("click", (e) => { e.preventDefault(); sendText(text); });
      return node;
    }
    default: return el("span");
  }
}

// Telegram's offsets count UTF-16 code units, as JavaScript strings do.
function renderText(text, entities) {
  const root = document.createDocumentFragment();
  const sorted = (entities || []).slice().sort((a, b) => a.offset - b.offset || b.length - a.length);
  const build = (parent, start, end, list) => {
    let pos = start, i = 0;
    while (i < list.length) {
      const e = list[i];
      if (e.offset < pos) { i++; continue; }
      if (e.offset > pos) parent.appendChild(document.createTextNode(text.slice(pos, e.offset)));
      const stop = Math.min(e.offset + e.length, end);
      const inner = [];
      let j = i + 1;
      for (; j < list.length && list[j].offset < stop; j++) {
        if (list[j].offset + list[j].length <= stop) inner.push(list[j]);
      }
      const node = entityNode(e, text.slice(e.offset, stop));
      build(node, e.offset, stop, inner);
      parent.appendChild(node);
      pos = stop; i = j;
    }
    if (pos < end) parent.appendChild(document.createTextNode(text.slice(pos, end)));
  };
  build(root, 0, text.length, sorted);
  return root;
}

// Telegram apps make every /command in a bot's text tappable, entity or not.
function withCommands(text, entities) {
  const found = [...(entities || [])];
  const covered = (at) => found.some((e) => at >= e.offset && at < e.offset + e.length);
  for (const m of text.matchAll(/(^|[\s(])(\/[a-z0-9_]{1,32})(?![\w\/])/gi)) {
    const offset = m.index + m[1].length;
    if (!covered(offset)) found.push({type: "bot_command", offset, length: m[2].length});
  }
  return found;
}

// ---------------------------------------------------------------- links

function deepLinkStart(url) {
  // t.me/<bot>?start=<param> opens the bot's chat and sends "/start <param>", as Telegram does.
  try {
    const u = new URL(url);
    if (!/^(www\.)?(t\.me|telegram\.me)$/.test(u.hostname) || !state.bot) return null;
    if (u.pathname.replace(/^\//, "").toLowerCase() !== state.bot.username.toLowerCase()) return null;
    return u.searchParams.get("start");
  } catch (_) { return null; }
}

function openLink(url) {
  const start = deepLinkStart(url);
  if (start !== null) { sendText(start ? `/start ${start}` : "/start"); return; }
  openBrowser(url);
}

// Links open in an in-app browser, like Telegram's; the Stripe Checkout page tells us
// through postMessage where the customer went next (success_url / cancel_url).
function openBrowser(url) {
  const box = el("div", "modal browser");
  const bar = el("div", "bar");
  bar.appendChild(el("span", "lock", "🔒"));
  bar.appendChild(el("span", "url", url));
  const newTab = el("button", "", "↗");
  newTab.title = "Open in a new tab";
  newTab.addEventListener("click", () => window.open(url, "_blank"));
  const x = el("button", "", "✕");
  x.title = "Close";
  bar.appendChild(newTab);
  bar.appendChild(x);
  box.appendChild(bar);
  const frame = el("iframe");
  frame.src = url;
  frame.name = "checkout";
  box.appendChild(frame);
  const close = modal(box, {onClose: () => window.removeEventListener("message", onMessage)});
  x.addEventListener("click", close);
  const onMessage = (event) => {
    const data = event.data || {};
    if (data.source !== "stripe-checkout" || event.source !== frame.contentWindow) return;
    close();
    if (data.redirect) openLink(data.redirect);
  };
  window.addEventListener("message", onMessage);
}

// ---------------------------------------------------------------- messages

const fmtTime = (ts) => new Date(ts * 1000).toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"});

function starsOrMoney(currency, amount) {
  if (currency === "XTR") return `⭐ ${amount}`;
  try {
    return new Intl.NumberFormat(undefined, {style: "currency", currency}).format(amount / 100);
  } catch (_) { return `${(amount / 100).toFixed(2)} ${currency}`; }
}

function keyboardOf(event, invoice) {
  const rows = ((event.message.reply_markup || {}).inline_keyboard) || [];
  const board = el("div", "keyboard");
  rows.forEach((row) => {
    const line = el("div", "row");
    row.forEach((button) => {
      const b = el("button", "", button.text);
      if (button.url) {
        b.appendChild(el("span", "link-mark", "↗"));
        b.addEventListener("click", () => openLink(button.url));
      } else if (button.pay) {
        b.addEventListener("click", () => openSheet(event, invoice));
      } else if (button.callback_data !== undefined) {
        b.addEventListener("click", () => press(event, button, b));
      }
      line.appendChild(b);
    });
    board.appendChild(line);
  });
  return rows.length ? board : null;
}

function serviceText(m) {
  const bot = state.bot ? state.bot.first_name : "the bot";
  if (m.successful_payment) {
    const p = m.successful_payment;
    return `You paid ${starsOrMoney(p.currency, p.total_amount)} to ${bot}`;
  }
  if (m.refunded_payment) {
    const p = m.refunded_payment;
    return `${bot} refunded ${starsOrMoney(p.currency, p.total_amount)}`;
  }
  return null;
}

function renderMessage(event) {
  const m = event.message;
  const service = serviceText(m);
  if (service) {
    const node = el("div", "service", service);
    node.dataset.id = event.message_id;
    return node;
  }
  const wrap = el("div", "msg " + (event.from_bot ? "in" : "out"));
  wrap.dataset.id = event.message_id;
  const bubble = el("div", "bubble");
  let invoice = null;
  if (m.photo) {
    bubble.classList.add("photo");
    const largest = m.photo[m.photo.length - 1];
    const img = el("img");
    img.src = `/api/files/${encodeURIComponent(largest.file_id)}`;
    img.alt = m.caption || "photo";
    img.width = largest.width;
    img.addEventListener("click", () => {
      const box = el("div", "lightbox");
      const big = el("img");
      big.src = img.src;
      box.appendChild(big);
      const close = modal(box);
      box.addEventListener("click", close);
    });
    bubble.appendChild(img);
    if (m.caption) {
      const caption = el("div", "caption");
      caption.appendChild(renderText(m.caption, m.caption_entities));
      bubble.appendChild(caption);
    }
  } else if (m.invoice) {
    invoice = m.invoice;
    bubble.classList.add("invoice");
    bubble.appendChild(el("div", "inv-kind", invoice.currency === "XTR" ? "Invoice · Telegram Stars" : "Invoice · card"));
    bubble.appendChild(el("div", "inv-title", invoice.title));
    bubble.appendChild(el("div", "inv-desc", invoice.description));
    bubble.appendChild(el("div", "inv-total", starsOrMoney(invoice.currency, invoice.total_amount)));
  } else {
    const text = m.text || "";
    bubble.appendChild(renderText(text, event.from_bot ? withCommands(text, m.entities) : m.entities));
  }
  const meta = el("span", "meta", (m.edit_date ? "edited " : "") + fmtTime(m.date));
  bubble.appendChild(meta);
  wrap.appendChild(bubble);
  let board = keyboardOf(event, invoice);
  if (invoice && !board) {
    // Telegram shows a Pay button under an invoice sent without a keyboard.
    board = keyboardOf({...event, message: {reply_markup: {inline_keyboard: [[{
      text: `Pay ${starsOrMoney(invoice.currency, invoice.total_amount)}`, pay: true}]]}}}, invoice);
  }
  if (board) wrap.appendChild(board);
  return wrap;
}

function upsertMessage(event) {
  const chat = state.chats.get(event.chat_id) || new Map();
  state.chats.set(event.chat_id, chat);
  const known = chat.has(event.message_id);
  chat.set(event.message_id, event);
  if (!known && event.from_bot && !event.deleted && event.chat_id !== state.current) {
    state.unread.set(event.chat_id, (state.unread.get(event.chat_id) || 0) + 1);
  }
  if (event.chat_id === state.current) drawMessage(event, known);
  renderChatList();
}

function drawMessage(event, known) {
  const box = $("#messages");
  const old = box.querySelector(`[data-id="${event.message_id}"]`);
  if (event.deleted) { if (old) old.remove(); return; }
  const nearBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 120;
  const node = renderMessage(event);
  if (old) {
    old.replaceWith(node);
    if (known && event.edited) {
      const bubble = node.querySelector(".bubble");
      if (bubble) bubble.classList.add("flash");
    }
  } else {
    const after = [...box.children].find((c) => Number(c.dataset.id) > event.message_id);
    box.insertBefore(node, after || null);
  }
  if (nearBottom || !event.from_bot) box.scrollTop = box.scrollHeight;
  updateBars();
}

function drawChat() {
  const box = $("#messages");
  box.replaceChildren();
  const chat = state.chats.get(state.current) || new Map();
  [...chat.values()].sort((a, b) => a.message_id - b.message_id)
    .filter((e) => !e.deleted).forEach((e) => box.appendChild(renderMessage(e)));
  box.scrollTop = box.scrollHeight;
  updateBars();
}

function currentUser() { return state.users.find((u) => u.id === state.current); }

function updateBars() {
  const user = currentUser();
  const chat = state.chats.get(state.current) || new Map();
  const empty = ![...chat.values()].some((e) => !e.deleted);
  const blocked = !!(user && user.blocked);
  $("#blocked-bar").hidden = !blocked;
  $("#start-bar").hidden = blocked || !empty;
  $("#composer").hidden = blocked || empty;
  $("#commands").hidden = true;
}

// ---------------------------------------------------------------- acting as the user

async function sendText(text) {
  text = text.trim();
  if (!text || state.current === null) return;
  try {
    await api(`/api/chats/${state.current}/send`, {text});
  } catch (e) { toast(e.message); }
}

async function press(event, button, node) {
  node.classList.add("pending");
  try {
    await api(`/api/chats/${event.chat_id}/press`, {message_id: event.message_id, data: button.callback_data});
  } catch (e) {
    node.classList.remove("pending");
    toast(e.message);
  }
}

function onAnswer(answer) {
  document.querySelectorAll(".keyboard button.pending").forEach((b) => b.classList.remove("pending"));
  if (answer.user_id !== state.current) return;
  if (answer.url) openLink(answer.url);
  if (!answer.text) return;
  if (answer.show_alert) alertBox(answer.text); else toast(answer.text);
}

function openSheet(event, invoice) {
  const stars = invoice.currency === "XTR";
  const price = starsOrMoney(invoice.currency, invoice.total_amount);
  const box = el("div", "modal sheet");
  box.setAttribute("role", "dialog");
  const head = el("div", "sheet-head", "Checkout");
  const x = el("button", "x", "✕");
  head.appendChild(x);
  box.appendChild(head);
  const product = el("div", "product");
  product.appendChild(el("div", "p-title", invoice.title));
  product.appendChild(el("div", "p-desc", invoice.description));
  const line = el("div", "line");
  line.appendChild(el("span", "", invoice.title));
  line.appendChild(el("span", "", price));
  const total = el("div", "line total");
  total.appendChild(el("span", "", "Total"));
  total.appendChild(el("span", "", price));
  product.appendChild(line);
  product.appendChild(total);
  box.appendChild(product);
  const method = el("div", "method");
  if (stars) {
    method.appendChild(el("label", "", "Payment method"));
    method.appendChild(el("div", "", "⭐ Telegram Stars (sandbox balance)"));
  } else {
    method.appendChild(el("label", "", "Card · the test payment provider accepts its test cards"));
    const card = el("input");
    card.value = "4242 4242 4242 4242";
    card.setAttribute("aria-label", "Card number");
    method.appendChild(card);
  }
  box.appendChild(method);
  const error = el("div", "error");
  box.appendChild(error);
  const pay = el("button", "pay", `Pay ${price}`);
  box.appendChild(pay);
  const close = modal(box);
  x.addEventListener("click", close);
  pay.addEventListener("click", async () => {
    pay.disabled = true;
    error.textContent = "";
    pay.textContent = "Waiting for the bot…";
    try {
      const result = await api(`/api/chats/${event.chat_id}/pay`, {message_id: event.message_id});
      if (result.status === "paid") { close(); return; }
      error.textContent = result.status === "expired"
        ? "The bot did not confirm the order in time. Nothing was charged."
        : (result.error_message || "The bot refused this payment. Nothing was charged.");
    } catch (e) { error.textContent = e.message; }
    pay.disabled = false;
    pay.textContent = `Pay ${price}`;
  });
}

// ---------------------------------------------------------------- the chat list

function renderChatList() {
  const list = $("#chats");
  list.replaceChildren();
  state.users.forEach((user) => {
    const item = el("div", "chat-item" + (user.id === state.current ? " active" : ""));
    item.setAttribute("role", "listitem");
    item.dataset.user = user.id;
    const avatar = el("div", "avatar", user.first_name.slice(0, 1).toUpperCase());
    avatar.style.background = colorOf(user.id);
    item.appendChild(avatar);
    const body = el("div", "body");
    const name = el("div", "name", user.first_name);
    name.appendChild(el("span", "who-tag", user.is_admin ? "admin" : "buyer"));
    if (user.blocked) name.appendChild(el("span", "who-tag", "· blocked the bot"));
    body.appendChild(name);
    const chat = state.chats.get(user.id) || new Map();
    const last = [...chat.values()].filter((e) => !e.deleted).sort((a, b) => b.message_id - a.message_id)[0];
    const preview = last ? (serviceText(last.message) || last.message.text || last.message.caption ||
      (last.message.photo ? "🖼 Photo" : last.message.invoice ? "🧾 Invoice" : "")) : "no messages yet";
    body.appendChild(el("div", "preview", preview.split("\n")[0]));
    item.appendChild(body);
    const unread = state.unread.get(user.id) || 0;
    if (unread) item.appendChild(el("span", "badge unread", String(unread)));
    item.addEventListener("click", () => openChat(user.id));
    list.appendChild(item);
  });
}

function renderHeader() {
  const user = currentUser();
  $("#chat-as").textContent = user
    ? `you are ${user.first_name}${user.is_admin ? " (admin)" : ""} · user id ${user.id}` : "";
}

function openChat(userId) {
  state.current = userId;
  state.unread.delete(userId);
  renderHeader();
  renderChatList();
  drawChat();
  renderOperator();
  $("#text").focus();
}

// ---------------------------------------------------------------- command menu

function showCommands(filter) {
  const menu = $("#commands");
  const commands = (state.commands.get(state.current) || [])
    .filter((c) => !filter || ("/" + c.command).startsWith(filter));
  menu.replaceChildren();
  commands.forEach((c) => {
    const row = el("div", "cmd");
    row.appendChild(el("b", "", "/" + c.command));
    row.appendChild(el("span", "", c.description));
    row.addEventListener("click", () => { $("#text").value = ""; menu.hidden = true; sendText("/" + c.command); });
    menu.appendChild(row);
  });
  menu.hidden = commands.length === 0;
}

// ---------------------------------------------------------------- operator panel

function accountLabel(account) {
  if (account.kind !== "user") return account.code;
  const user = state.users.find((u) => u.id === account.user_id);
  return user ? `${user.first_name} (${account.user_id})` : account.code;
}

function renderOperator() {
  const op = state.operator;
  const user = currentUser();
  if (user) {
    $("#user-line").textContent = `${user.first_name} · id ${user.id}${user.is_admin ? " · admin" : ""}`;
    $("#block-toggle").textContent = user.blocked ? "Unblock the bot" : "Block the bot";
  }
  if (!op) return;
  const latency = $("#latency");
  if (document.activeElement !== latency && !latency.dataset.dirty) latency.value = op.grid.latency_s;
  const failure = $("#failure");
  if (!failure.dataset.dirty) failure.value = Math.round(op.grid.failure_rate * 100);
  $("#failure-value").textContent = `${failure.value}%`;
  const shift = op.clock.offset_s;
  $("#clock-now").textContent = new Date(op.clock.now * 1000).toLocaleString() +
    (shift ? `  (+${(shift / 86400).toFixed(shift % 86400 ? 2 : 0)} days)` : "");
  const audit = $("#audit");
  audit.textContent = op.ledger.audit;
  audit.className = "audit " + (op.ledger.audit_ok ? "ok" : "bad");
  const body = $("#accounts");
  body.replaceChildren();
  op.ledger.accounts.forEach((a) => {
    const tr = el("tr");
    tr.appendChild(el("td", "", accountLabel(a)));
    tr.appendChild(el("td", "num", a.balance));
    tr.appendChild(el("td", "num", a.held));
    body.appendChild(tr);
  });
  const transfers = $("#transfers");
  transfers.replaceChildren();
  if (!op.ledger.transfers.length) transfers.textContent = "none yet";
  op.ledger.transfers.forEach((t) => {
    const row = el("div", "transfer");
    row.textContent = `#${t.id} ${t.kind} ${t.amount}: ${t.from} → ${t.to}${t.memo ? " · " + t.memo : ""}`;
    transfers.appendChild(row);
  });
}

function renderStripe() {
  const box = $("#stripe-payments");
  box.replaceChildren();
  box.classList.toggle("muted", !state.stripe.length);
  if (!state.stripe.length) { box.textContent = "No payments yet."; return; }
  state.stripe.forEach((c) => {
    const row = el("div", "payment");
    row.dataset.charge = c.id;
    const head = el("div");
    head.appendChild(el("b", "", starsOrMoney(c.currency.toUpperCase(), c.amount)));
    head.appendChild(el("span", "tag " + c.status, c.status));
    if (c.method !== "card") head.appendChild(el("span", "tag", c.method.replace(/_/g, " ")));
    if (c.amount_refunded) head.appendChild(el("span", "tag", `refunded ${starsOrMoney(c.currency.toUpperCase(), c.amount_refunded)}`));
    if (c.disputed) head.appendChild(el("span", "tag warn", "disputed"));
    row.appendChild(head);
    const sub = el("div", "muted", c.failure_message ? `${c.id} · ${c.failure_message}` : c.id);
    row.appendChild(sub);
    const money = (amount) => starsOrMoney(c.currency.toUpperCase(), amount);
    c.refunds.forEach((r) => {
      const line = el("div", "row");
      line.appendChild(el("span", "muted", `refund ${money(r.amount)}`));
      line.appendChild(el("span", "tag " + (r.status === "succeeded" ? "succeeded" : r.status === "pending" ? "pending" : "failed"), r.status));
      if (r.status === "succeeded" || r.status === "pending") {
        const fail = el("button", "", "Bank returns it");
        fail.title = "The refund fails after it was made (e.g. the card was closed)";
        fail.addEventListener("click", () => stripeAction("refund/fail", {refund: r.id}, "The refund failed at the bank"));
        line.appendChild(fail);
      }
      row.appendChild(line);
    });
    c.disputes.forEach((d) => {
      const line = el("div", "row");
      line.appendChild(el("span", "muted", `dispute ${money(d.amount)} (${d.reason})`));
      line.appendChild(el("span", "tag warn", d.status.replace(/_/g, " ")));
      if (!["won", "lost", "warning_closed"].includes(d.status)) {
        const won = el("button", "", d.status.startsWith("warning") ? "Close inquiry" : "Won");
        won.addEventListener("click", () => stripeAction("dispute/close", {dispute: d.id, won: true}, "The dispute was closed"));
        line.appendChild(won);
        if (!d.status.startsWith("warning")) {
          const lost = el("button", "danger", "Lost");
          lost.addEventListener("click", () => stripeAction("dispute/close", {dispute: d.id, won: false}, "The dispute was lost"));
          line.appendChild(lost);
        }
      }
      row.appendChild(line);
    });
    if (c.status === "succeeded" && !c.disputed && c.amount_refunded < c.amount) {
      const actions = el("div", "row");
      const refund = el("button", "", "Refund");
      refund.addEventListener("click", () => stripeAction("refund", {charge: c.id}, "Refund created in Stripe"));
      const inquiry = el("button", "", "Inquiry");
      inquiry.title = "The cardholder's bank asks about the charge (no money moves yet)";
      inquiry.addEventListener("click", () => stripeAction("dispute", {charge: c.id, reason: "fraudulent", inquiry: true}, "The bank opened an inquiry"));
      const dispute = el("button", "danger", "Chargeback");
      dispute.title = "The cardholder disputes the charge as fraudulent; the funds are withdrawn";
      dispute.addEventListener("click", () => stripeAction("dispute", {charge: c.id, reason: "fraudulent"}, "The cardholder disputed the charge"));
      actions.appendChild(refund);
      actions.appendChild(inquiry);
      actions.appendChild(dispute);
      row.appendChild(actions);
    }
    box.appendChild(row);
  });
}

async function stripeAction(action, body, done) {
  try {
    await api(`/api/stripe/${action}`, body);
    toast(done);
  } catch (e) { toast(e.message); }
}

// ---------------------------------------------------------------- wiring

function connect() {
  const source = new EventSource("/api/events");
  source.onopen = () => { $("#conn").textContent = "live"; $("#conn").className = ""; };
  source.onerror = () => { $("#conn").textContent = "reconnecting…"; $("#conn").className = "down"; };
  source.addEventListener("users", (e) => {
    state.users = JSON.parse(e.data);
    if (state.current === null && state.users.length) openChat(state.users[0].id);
    renderHeader();
    renderChatList();
    updateBars();
    renderOperator();
  });
  source.addEventListener("message", (e) => upsertMessage(JSON.parse(e.data)));
  source.addEventListener("answer", (e) => onAnswer(JSON.parse(e.data)));
  source.addEventListener("commands", (e) => {
    const data = JSON.parse(e.data);
    state.commands.set(data.user_id, data.commands);
  });
  source.addEventListener("stripe", (e) => { state.stripe = JSON.parse(e.data); renderStripe(); });
  source.addEventListener("operator", (e) => { state.operator = JSON.parse(e.data); renderOperator(); });
}

async function main() {
  const info = await api("/api/state");
  state.bot = info.bot;
  $("#bot-name").textContent = info.bot.first_name;
  $("#bot-avatar").style.background = colorOf(info.bot.id);
  document.title = `${info.bot.first_name} · gridshop sandbox`;
  $("#composer").addEventListener("submit", (e) => {
    e.preventDefault();
    const input = $("#text");
    sendText(input.value);
    input.value = "";
    $("#commands").hidden = true;
  });
  $("#text").addEventListener("input", (e) => {
    const value = e.target.value;
    if (value.startsWith("/") && !value.includes(" ")) showCommands(value); else $("#commands").hidden = true;
  });
  $("#menu-button").addEventListener("click", () => {
    if ($("#commands").hidden) showCommands(""); else $("#commands").hidden = true;
  });
  $("#start").addEventListener("click", () => sendText("/start"));
  $("#unblock").addEventListener("click", async () => {
    await api(`/api/chats/${state.current}/block`, {blocked: false});
    sendText("/start");
  });
  $("#block-toggle").addEventListener("click", async () => {
    const user = currentUser();
    if (!user) return;
    try { await api(`/api/chats/${user.id}/block`, {blocked: !user.blocked}); } catch (e) { toast(e.message); }
  });
  $("#add-user").addEventListener("submit", async (e) => {
    e.preventDefault();
    const name = $("#new-user").value.trim();
    if (!name) return;
    try {
      const user = await api("/api/users", {first_name: name});
      $("#new-user").value = "";
      state.pendingOpen = user.id;
      setTimeout(() => openChat(user.id), 300);
    } catch (err) { toast(err.message); }
  });
  $("#latency").addEventListener("input", (e) => { e.target.dataset.dirty = "1"; });
  $("#failure").addEventListener("input", (e) => {
    e.target.dataset.dirty = "1";
    $("#failure-value").textContent = `${e.target.value}%`;
  });
  $("#grid-apply").addEventListener("click", async () => {
    try {
      await api("/api/operator/grid", {latency_s: Number($("#latency").value),
        failure_rate: Number($("#failure").value) / 100});
      delete $("#latency").dataset.dirty;
      delete $("#failure").dataset.dirty;
      toast("Grid settings apply to the next deployments");
    } catch (e) { toast(e.message); }
  });
  document.querySelectorAll("[data-advance]").forEach((b) => b.addEventListener("click", async () => {
    b.disabled = true;
    try {
      await api("/api/operator/clock", {seconds: Number(b.dataset.advance)});
      toast(`Clock moved on by ${b.textContent.replace("+", "")}`);
    } catch (e) { toast(e.message); }
    b.disabled = false;
  }));
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape") document.querySelectorAll(".modal-back").forEach((m) => m.click());
  });
  connect();
}

main();
