// gosmee-trio channel page: a live feed of the events relayed on one channel.
//
// Plain JavaScript, no build step, no third-party code. Every value that comes from
// a webhook reaches the page through textContent or an attribute, never as HTML.
"use strict";

(() => {
  // The newest cards kept in the page; older ones are dropped and counted, so the
  // page stays responsive however long it is left open.
  const MAX_CARDS = 500;
  // Stream ids remembered to drop events seen twice; far more than one resume
  // could ever send again.
  const MAX_SEEN_IDS = 5000;
  // Raw and base64 views show this much; the copy buttons always copy everything.
  const PREVIEW_CHARS = 256 * 1024;
  const HEX_PREVIEW_BYTES = 512;
  // JSON objects and arrays list this many children, then offer a "show more".
  const TREE_CHUNK = 200;
  const FEEDBACK_MS = 2000;
  // A stream the browser gave up on (an error status while the server restarts)
  // is opened again by us after this delay, doubling up to the cap.
  const RECONNECT_FIRST_MS = 1000;
  const RECONNECT_MAX_MS = 30000;
  const TOKEN_KEY = "gosmee-trio-replay-token";

  // The same headers, in the same order, as the server reads them.
  const EVENT_TYPE_HEADERS = [
    "x-github-event",
    "x-gitlab-event",
    "x-gitea-event",
    "x-forgejo-event",
    "x-event-key",
  ];
  const DELIVERY_ID_HEADERS = [
    "x-github-delivery",
    "x-gitea-delivery",
    "x-forgejo-delivery",
    "x-gitlab-delivery",
    "x-event-id",
  ];
  // Keys of the relay message that are not request headers.
  const MESSAGE_KEYS = new Set(["timestamp", "bodyB", "body", "query"]);
  // Never sent again on replay: fetch() refuses them, they describe one hop, or
  // they would claim a client address or credentials that are not the browser's.
  const UNREPLAYABLE_HEADERS = new Set([
    "accept-charset",
    "accept-encoding",
    "access-control-request-headers",
    "access-control-request-method",
    "authorization",
    "connection",
    "content-length",
    "cookie",
    "cookie2",
    "date",
    "dnt",
    "expect",
    "forwarded",
    "host",
    "keep-alive",
    "origin",
    "referer",
    "set-cookie",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "via",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
    "x-request-id",
  ]);

  const utf8 = new TextDecoder("utf-8", { fatal: true });
  const config = document.body.dataset;
  const ui = {
    status: document.getElementById("status"),
    statusText: document.getElementById("status-text"),
    count: document.getElementById("count"),
    clear: document.getElementById("clear"),
    gap: document.getElementById("gap"),
    empty: document.getElementById("empty"),
    events: document.getElementById("events"),
    hiddenNote: document.getElementById("hidden-note"),
    announce: document.getElementById("announce"),
  };
  const feed = {
    seen: new Set(),
    pending: [],
    frame: 0,
    received: 0,
    hidden: 0,
  };
  const stream = { source: null, retryMs: RECONNECT_FIRST_MS, timer: 0, lastId: "" };
  const baseTitle = document.title;
  let nextId = 0;

  // ---------------------------------------------------------------- DOM helpers

  // Builds an element; strings among the children become text nodes.
  function el(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (name === "text") node.textContent = value;
      else node.setAttribute(name, value);
    }
    node.append(...children);
    return node;
  }

  function button(label, onClick, className = "button small") {
    const node = el("button", { type: "button", class: className, text: label });
    node.dataset.label = label;
    node.addEventListener("click", onClick);
    return node;
  }

  function announce(message) {
    ui.announce.textContent = message;
  }

  // Shows a short result on a button, then its label (data-label) again.
  function flash(node, label, ok) {
    clearTimeout(Number(node.dataset.timer || 0));
    node.textContent = label;
    node.dataset.result = ok ? "ok" : "error";
    announce(label);
    const timer = setTimeout(() => {
      node.textContent = node.dataset.label;
      delete node.dataset.result;
    }, FEEDBACK_MS);
    node.dataset.timer = String(timer);
  }

  // ---------------------------------------------------------------- formatting

  function formatBytes(size) {
    if (size < 1024) return `${size} B`;
    if (size < 1024 * 1024) return `${(size / 1024).toFixed(1)} KiB`;
    return `${(size / (1024 * 1024)).toFixed(1)} MiB`;
  }

  function plural(count, word) {
    return `${count} ${word}${count === 1 ? "" : "s"}`;
  }

  function formatTime(date) {
    const today = new Date().toDateString() === date.toDateString();
    const time = date.toLocaleTimeString(undefined, { hour12: false });
    if (today) return time;
    return `${date.toLocaleDateString(undefined, { dateStyle: "medium" })} ${time}`;
  }

  function truncate(text) {
    if (text.length <= PREVIEW_CHARS) return { text, cut: false };
    return { text: text.slice(0, PREVIEW_CHARS), cut: true };
  }

  function hexLine(bytes, offset) {
    const row = bytes.subarray(offset, offset + 16);
    const hex = Array.from(row, (b) => b.toString(16).padStart(2, "0")).join(" ");
    const ascii = Array.from(row, (b) =>
      b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".",
    ).join("");
    return `${offset.toString(16).padStart(8, "0")}  ${hex.padEnd(47)}  |${ascii}|`;
  }

  function hexDump(bytes) {
    const shown = bytes.subarray(0, HEX_PREVIEW_BYTES);
    const lines = [];
    for (let offset = 0; offset < shown.length; offset += 16) {
      lines.push(hexLine(shown, offset));
    }
    return lines.join("\n");
  }

  // ---------------------------------------------------------------- events

  function base64ToBytes(text) {
    if (typeof Uint8Array.fromBase64 === "function") return Uint8Array.fromBase64(text);
    const binary = atob(text);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }

  function bytesToBase64(bytes) {
    if (typeof bytes.toBase64 === "function") return bytes.toBase64();
    let binary = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    }
    return btoa(binary);
  }

  // The body's exact bytes: gosmee's base64 ``bodyB``, or smee.io's parsed ``body``.
  function bodyBytes(message) {
    if (typeof message.bodyB === "string") return base64ToBytes(message.bodyB);
    if (message.body === undefined) return new Uint8Array();
    const text =
      typeof message.body === "string" ? message.body : JSON.stringify(message.body);
    return new TextEncoder().encode(text);
  }

  function firstHeader(headers, names) {
    for (const name of names) {
      if (headers.has(name)) return headers.get(name);
    }
    return "";
  }

  function eventTime(timestamp) {
    const date = new Date(Number(timestamp));
    return Number.isNaN(date.getTime()) ? new Date() : date;
  }

  // One relay message as the page uses it.
  function toEvent(message, streamId) {
    const headers = new Map();
    for (const [name, value] of Object.entries(message)) {
      if (!MESSAGE_KEYS.has(name) && typeof value === "string")
        headers.set(name, value);
    }
    return {
      streamId,
      headers,
      query: message.query && typeof message.query === "object" ? message.query : {},
      time: eventTime(message.timestamp),
      type: firstHeader(headers, EVENT_TYPE_HEADERS),
      delivery: firstHeader(headers, DELIVERY_ID_HEADERS),
      bytes: bodyBytes(message),
    };
  }

  // ---------------------------------------------------------------- bodies

  function mediaType(headers) {
    return (headers.get("content-type") || "").split(";")[0].trim().toLowerCase();
  }

  function parseJson(text) {
    try {
      return { ok: true, value: JSON.parse(text) };
    } catch {
      return { ok: false };
    }
  }

  function looksLikeJson(text, type) {
    return /[/+]json$/.test(type) || /^\s*[[{]/.test(text);
  }

  function formBody(text) {
    const fields = Array.from(new URLSearchParams(text));
    const body = { kind: "form", text, fields };
    // GitHub's form-encoded deliveries carry the JSON in a ``payload`` field.
    const payload = fields.find(([name]) => name === "payload");
    const json = payload ? parseJson(payload[1]) : { ok: false };
    if (json.ok) body.value = json.value;
    return body;
  }

  // What the body is, decoded once: empty, binary, form, JSON or text.
  function decodeBody(bytes, headers) {
    if (bytes.length === 0) return { kind: "empty" };
    let text;
    try {
      text = utf8.decode(bytes);
    } catch {
      return { kind: "binary" };
    }
    const type = mediaType(headers);
    if (type === "application/x-www-form-urlencoded") return formBody(text);
    if (looksLikeJson(text, type)) {
      const json = parseJson(text);
      if (json.ok) return { kind: "json", text, value: json.value };
    }
    return { kind: "text", text };
  }

  function bodySummary(body, size) {
    const sizeText = formatBytes(size);
    switch (body.kind) {
      case "empty":
        return "empty";
      case "form":
        return `form · ${plural(body.fields.length, "field")} · ${sizeText}`;
      case "json":
        return `JSON · ${sizeText}`;
      case "binary":
        return `binary · ${sizeText}`;
      default:
        return `text · ${sizeText}`;
    }
  }

  // The text a "Copy body" button copies: the body itself, or base64 when binary.
  function bodyText(event, body) {
    return body.kind === "binary" ? bytesToBase64(event.bytes) : body.text || "";
  }

  // ---------------------------------------------------------------- JSON tree

  function keyLabel(key) {
    if (key === null) return [];
    return [el("span", { class: "j-key", text: String(key) }), ": "];
  }

  function scalarNode(value) {
    if (typeof value === "string") {
      return el("span", { class: "j-string", text: JSON.stringify(value) });
    }
    const kind = typeof value === "number" ? "j-number" : "j-literal";
    return el("span", { class: kind, text: String(value) });
  }

  function containerHint(value) {
    if (Array.isArray(value)) return `[…] ${plural(value.length, "item")}`;
    return `{…} ${plural(Object.keys(value).length, "key")}`;
  }

  // Children are listed TREE_CHUNK at a time, from ``start``.
  function appendChildren(list, entries, start) {
    const end = Math.min(entries.length, start + TREE_CHUNK);
    for (let i = start; i < end; i += 1) {
      list.append(treeNode(entries[i][0], entries[i][1], false));
    }
    if (end < entries.length) {
      const more = button(`Show more (${entries.length - end} left)`, () => {
        more.remove();
        appendChildren(list, entries, end);
      });
      list.append(more);
    }
  }

  function treeNode(key, value, open) {
    if (value === null || typeof value !== "object") {
      return el("div", { class: "leaf" }, ...keyLabel(key), scalarNode(value));
    }
    const hint = el("span", { class: "j-hint", text: containerHint(value) });
    const details = el(
      "details",
      { class: "node" },
      el("summary", {}, ...keyLabel(key), hint),
    );
    let rendered = false;
    // Children are built on first opening: a large payload costs nothing until read.
    const render = () => {
      if (rendered) return;
      rendered = true;
      const list = el("div", { class: "children" });
      appendChildren(list, Object.entries(value), 0);
      details.append(list);
    };
    details.addEventListener("toggle", () => details.open && render());
    if (open) {
      render();
      details.open = true;
    }
    return details;
  }

  function treeView(value) {
    return el("div", { class: "tree" }, treeNode(null, value, true));
  }

  // ---------------------------------------------------------------- payload views

  function preView(text, className = "raw") {
    const shown = truncate(text);
    const pre = el("pre", { class: className, text: shown.text });
    if (!shown.cut) return pre;
    const note = `Showing the first ${PREVIEW_CHARS} characters; Copy body copies all.`;
    return el("div", {}, pre, el("p", { class: "note", text: note }));
  }

  function tableView(rows, className) {
    const table = el("table", { class: `kv ${className}` });
    const tbody = el("tbody");
    for (const [name, value] of rows) {
      tbody.append(
        el("tr", {}, el("th", { scope: "row", text: name }), el("td", { text: value })),
      );
    }
    table.append(tbody);
    return table;
  }

  function sizeInBytes(size) {
    const exact = plural(size, "byte");
    return size < 1024 ? exact : `${formatBytes(size)} (${exact})`;
  }

  function hexView(bytes) {
    const shown = Math.min(bytes.length, HEX_PREVIEW_BYTES);
    const note = `Not UTF-8 text: ${sizeInBytes(bytes.length)}`;
    const extra = shown < bytes.length ? `, the first ${shown} shown` : "";
    return el(
      "div",
      {},
      el("p", { class: "note", text: note + extra }),
      el("pre", { class: "raw hex", text: hexDump(bytes) }),
    );
  }

  // The views a body offers, as [label, build] pairs; the first is shown.
  function payloadViews(event, body) {
    switch (body.kind) {
      case "empty":
        return [["Empty", () => el("p", { class: "note", text: "No body." })]];
      case "binary":
        return [
          ["Hex", () => hexView(event.bytes)],
          ["Base64", () => preView(bytesToBase64(event.bytes))],
        ];
      case "json":
        return [
          ["Tree", () => treeView(body.value)],
          ["Raw", () => preView(body.text)],
        ];
      case "form": {
        const views = [["Fields", () => tableView(body.fields, "fields")]];
        if ("value" in body) {
          views.push(["Tree", () => treeView(body.value)]);
        }
        views.push(["Raw", () => preView(body.text)]);
        return views;
      }
      default:
        return [["Raw", () => preView(body.text)]];
    }
  }

  // Left and right arrows move between tabs, as in any tab list.
  function onTabKey(keyEvent, tabs) {
    const step = { ArrowLeft: -1, ArrowRight: 1 }[keyEvent.key];
    if (!step) return;
    const all = Array.from(tabs.children);
    const next = all[(all.indexOf(keyEvent.target) + step + all.length) % all.length];
    next.focus();
    next.click();
    keyEvent.preventDefault();
  }

  // Tabs over views; each view is built the first time it is chosen.
  function tabbedViews(views) {
    if (views.length === 1) return views[0][1]();
    const tabs = el("div", {
      class: "tabs",
      role: "tablist",
      "aria-label": "Payload view",
    });
    const panel = el("div", { role: "tabpanel", id: `panel-${(nextId += 1)}` });
    const built = new Map();
    const choose = (tab, build) => {
      for (const other of tabs.children) {
        other.setAttribute("aria-selected", String(other === tab));
        other.tabIndex = other === tab ? 0 : -1;
      }
      if (!built.has(tab)) built.set(tab, build());
      panel.replaceChildren(built.get(tab));
    };
    for (const [label, build] of views) {
      const tab = button(label, () => choose(tab, build), "tab");
      tab.setAttribute("role", "tab");
      tab.setAttribute("aria-controls", panel.id);
      tabs.append(tab);
    }
    tabs.addEventListener("keydown", (keyEvent) => onTabKey(keyEvent, tabs));
    choose(tabs.firstElementChild, views[0][1]);
    return el("div", {}, tabs, panel);
  }

  // ---------------------------------------------------------------- cards

  function cardHead(event) {
    const type = el("h3", {
      class: event.type ? "event-type" : "event-type generic",
      text: event.type || "webhook",
    });
    const head = el("div", { class: "card-head" }, type);
    if (event.delivery) {
      head.append(
        el("code", { class: "delivery", title: "Delivery id", text: event.delivery }),
      );
    }
    const time = el("time", {
      class: "card-time",
      datetime: event.time.toISOString(),
      title: event.time.toString(),
      text: formatTime(event.time),
    });
    head.append(time);
    return head;
  }

  function cardMeta(event, body) {
    const meta = el("div", { class: "card-meta" });
    if (event.streamId)
      meta.append(el("span", { text: `stream id ${event.streamId}` }));
    const type = event.headers.get("content-type");
    if (type) meta.append(el("span", { text: type }));
    meta.append(el("span", { text: bodySummary(body, event.bytes.length) }));
    return meta;
  }

  function headerLines(event) {
    return Array.from(event.headers, ([name, value]) => `${name}: ${value}`).join("\n");
  }

  function cardActions(event, body) {
    const replayButton = button(
      "Replay",
      () => replay(event, replayButton),
      "button small primary",
    );
    replayButton.classList.add("replay");
    const copyBody = button("Copy body", () =>
      copyText(bodyText(event, body), copyBody),
    );
    const copyHeaders = button("Copy headers", () =>
      copyText(headerLines(event), copyHeaders),
    );
    return el("div", { class: "card-actions" }, replayButton, copyBody, copyHeaders);
  }

  // A collapsible part of a card; its content is built when first opened, so the
  // cards nobody opens stay light.
  function section(className, title, note, build, open = false) {
    const summary = el(
      "summary",
      {},
      title,
      " ",
      el("span", { class: "summary-note", text: note }),
    );
    const details = el("details", { class: className }, summary);
    let built = false;
    const fill = () => {
      if (built || !details.open) return;
      built = true;
      details.append(build());
    };
    details.addEventListener("toggle", fill);
    details.open = open;
    fill();
    return details;
  }

  function queryRows(query) {
    const rows = [];
    for (const [name, values] of Object.entries(query)) {
      for (const value of [].concat(values)) rows.push([name, String(value)]);
    }
    return rows;
  }

  function renderCard(event) {
    const body = decodeBody(event.bytes, event.headers);
    const card = el("article", { class: "card fresh" });
    card.dataset.streamId = event.streamId;
    card.append(cardHead(event), cardMeta(event, body), cardActions(event, body));
    const headers = () => tableView(event.headers, "headers");
    card.append(section("headers", "Headers", `(${event.headers.size})`, headers));
    const query = queryRows(event.query);
    if (query.length) {
      const rows = () => tableView(query, "query");
      card.append(section("query", "Query", `(${query.length})`, rows));
    }
    const views = () => tabbedViews(payloadViews(event, body));
    const note = `(${bodySummary(body, event.bytes.length)})`;
    card.append(section("payload", "Payload", note, views, true));
    return card;
  }

  // ---------------------------------------------------------------- feed

  function updateCounters() {
    ui.count.textContent = String(feed.received);
    document.title = feed.received ? `(${feed.received}) ${baseTitle}` : baseTitle;
    ui.hiddenNote.hidden = feed.hidden === 0;
    ui.hiddenNote.textContent = `${plural(feed.hidden, "older event")} hidden`;
    ui.empty.hidden = feed.received > 0;
    ui.clear.disabled = feed.received === 0;
  }

  function trimCards() {
    while (ui.events.childElementCount > MAX_CARDS) {
      ui.events.lastElementChild.remove();
      feed.hidden += 1;
    }
  }

  // Renders what arrived since the last frame in one go, newest first.
  function flush() {
    feed.frame = 0;
    const batch = feed.pending.splice(0);
    const cards = document.createDocumentFragment();
    for (const event of batch.reverse()) cards.append(renderCard(event));
    ui.events.prepend(cards);
    trimCards();
    updateCounters();
  }

  function remember(streamId) {
    if (!streamId) return true;
    if (feed.seen.has(streamId)) return false;
    feed.seen.add(streamId);
    if (feed.seen.size > MAX_SEEN_IDS) {
      feed.seen.delete(feed.seen.values().next().value);
    }
    return true;
  }

  function enqueue(event) {
    feed.received += 1;
    feed.pending.push(event);
    // While the tab is hidden frames stop; the queue never outgrows the page.
    if (feed.pending.length > MAX_CARDS) {
      feed.pending.shift();
      feed.hidden += 1;
    }
    if (!feed.frame) feed.frame = requestAnimationFrame(flush);
  }

  function clearFeed() {
    feed.pending.length = 0;
    feed.received = 0;
    feed.hidden = 0;
    ui.events.replaceChildren();
    ui.gap.hidden = true;
    updateCounters();
    announce("Events cleared");
  }

  // ---------------------------------------------------------------- stream

  function setStatus(state, label) {
    ui.status.dataset.state = state;
    ui.statusText.textContent = label;
  }

  function onMessage(message) {
    let data;
    try {
      data = JSON.parse(message.data);
    } catch {
      return;
    }
    if (data === null || typeof data !== "object") return;
    if (data.message === "connected") return;
    // The ready frame carries the stream's position, events their own id: either
    // is where a fresh connection resumes from.
    if (message.lastEventId) stream.lastId = message.lastEventId;
    if (data.message === "ready") {
      stream.retryMs = RECONNECT_FIRST_MS;
      setStatus("live", "Live");
      return;
    }
    if (!remember(message.lastEventId)) return;
    enqueue(toEvent(data, message.lastEventId));
  }

  function onGap(message) {
    const data = parseJson(message.data);
    const info = data.ok && data.value ? data.value : {};
    const requested = info.requested_id || "?";
    const oldest = info.oldest_id ? `; the oldest it keeps is ${info.oldest_id}` : "";
    const text =
      "Some events were missed while this page was away: the server's history no " +
      `longer reaches back to stream id ${requested}${oldest}.`;
    const dismiss = button("Dismiss", () => {
      ui.gap.hidden = true;
    });
    ui.gap.replaceChildren(el("span", { text }), " ", dismiss);
    ui.gap.hidden = false;
  }

  function onError(source) {
    setStatus("reconnecting", "Reconnecting…");
    // While CONNECTING the browser retries by itself and sends Last-Event-ID.
    if (source.readyState !== EventSource.CLOSED || stream.timer) return;
    // The browser gave up (an error status from a restarting server): reconnect by
    // hand, resuming with the last_event_id query parameter, since a new
    // EventSource cannot send the Last-Event-ID header.
    stream.timer = setTimeout(() => {
      stream.timer = 0;
      connect();
    }, stream.retryMs);
    stream.retryMs = Math.min(stream.retryMs * 2, RECONNECT_MAX_MS);
  }

  function connect() {
    stream.source?.close();
    const resume = stream.lastId
      ? `?last_event_id=${encodeURIComponent(stream.lastId)}`
      : "";
    const source = new EventSource(config.eventsPath + resume);
    stream.source = source;
    source.addEventListener("message", onMessage);
    source.addEventListener("gosmee-gap", onGap);
    source.addEventListener("error", () => onError(source));
  }

  // ---------------------------------------------------------------- replay

  function storedToken() {
    try {
      return sessionStorage.getItem(TOKEN_KEY);
    } catch {
      return null;
    }
  }

  function storeToken(token) {
    try {
      if (token) sessionStorage.setItem(TOKEN_KEY, token);
      else sessionStorage.removeItem(TOKEN_KEY);
    } catch {
      // Storage is off: the token is asked for again next time.
    }
  }

  function replayHeaders(event, token) {
    const headers = new Headers();
    for (const [name, value] of event.headers) {
      if (UNREPLAYABLE_HEADERS.has(name) || /^(proxy|sec)-/.test(name)) continue;
      try {
        headers.append(name, value);
      } catch {
        // A value fetch() cannot send as is; the replay goes without it.
      }
    }
    if (token) headers.set("Authorization", `Bearer ${token}`);
    return headers;
  }

  function postReplay(event, token) {
    return fetch(config.replayPath, {
      method: "POST",
      headers: replayHeaders(event, token),
      body: event.bytes,
      credentials: "omit",
      cache: "no-store",
      redirect: "error",
    });
  }

  // POSTs the event; on 401 asks for the token once and tries again with it.
  async function replayWithToken(event) {
    const response = await postReplay(event, storedToken());
    if (response.status !== 401) return response;
    const token = window.prompt("This server needs a replay token to replay events:");
    if (!token) return response;
    storeToken(token);
    const retried = await postReplay(event, token);
    if (retried.status === 401) storeToken(null);
    return retried;
  }

  async function replay(event, node) {
    node.disabled = true;
    node.textContent = "Replaying…";
    try {
      const response = await replayWithToken(event);
      if (response.ok) flash(node, "Replayed", true);
      else if (response.status === 401) flash(node, "Unauthorized", false);
      else flash(node, `Failed (${response.status})`, false);
    } catch {
      flash(node, "Failed", false);
    } finally {
      node.disabled = false;
    }
  }

  // ---------------------------------------------------------------- copy

  function legacyCopy(text) {
    const area = el("textarea", { class: "offscreen", readonly: "" });
    area.value = text;
    document.body.append(area);
    area.select();
    let ok = false;
    try {
      ok = document.execCommand("copy");
    } catch {
      ok = false;
    }
    area.remove();
    return ok;
  }

  async function writeClipboard(text) {
    if (navigator.clipboard && window.isSecureContext) {
      try {
        await navigator.clipboard.writeText(text);
        return true;
      } catch {
        // Denied: try the older way below.
      }
    }
    return legacyCopy(text);
  }

  async function copyText(text, node) {
    const ok = await writeClipboard(text);
    flash(node, ok ? "Copied" : "Copy failed", ok);
  }

  // ---------------------------------------------------------------- start

  function wireStaticButtons() {
    for (const node of document.querySelectorAll("[data-copy-from]")) {
      const source = document.getElementById(node.dataset.copyFrom);
      node.dataset.label = node.textContent;
      node.addEventListener("click", () => copyText(source.textContent, node));
    }
    ui.clear.addEventListener("click", clearFeed);
  }

  wireStaticButtons();
  updateCounters();
  connect();
})();
