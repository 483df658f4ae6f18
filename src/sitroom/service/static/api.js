// Talking to the server: the login token (kept in sessionStorage), reads with the as-of moment
// the slider chose, and the live stream (SSE read through fetch: EventSource cannot send the
// Authorization header the server asks for).

const TOKEN = "sitroom.token";
const USER = "sitroom.user";

export const session = {
  get token() { return sessionStorage.getItem(TOKEN); },
  get user() { return sessionStorage.getItem(USER); },
  asOf: null, // ISO time, or null: now (live)
};

export class Unauthenticated extends Error {}

export async function login(user, passphrase) {
  const r = await fetch("/auth/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ user, passphrase }),
  });
  const body = await r.json();
  if (r.status !== 201) throw new Error(body.error ? body.error.message : `login failed (${r.status})`);
  sessionStorage.setItem(TOKEN, body.token);
  sessionStorage.setItem(USER, body.user);
  return body;
}

export async function logout() {
  if (session.token) {
    await fetch("/auth/logout", { method: "POST", headers: auth() }).catch(() => {});
  }
  sessionStorage.removeItem(TOKEN);
  sessionStorage.removeItem(USER);
}

function auth() {
  return session.token ? { Authorization: `Bearer ${session.token}` } : {};
}

// GET a read, as of the slider's moment unless `now` is set.
export async function read(path, params = {}, { now = false } = {}) {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    for (const one of Array.isArray(v) ? v : [v]) if (one !== null && one !== undefined) query.append(k, one);
  }
  if (session.asOf && !now) query.set("as_of", session.asOf);
  const q = query.toString();
  const r = await fetch(q ? `${path}?${q}` : path, { headers: auth() });
  if (r.status === 401) throw new Unauthenticated("the session ended: log in again");
  const body = await r.json();
  if (!r.ok) throw new Error(body.error ? body.error.message : `${path}: ${r.status}`);
  return body;
}

// POST a JSON body (an act: no as-of); the answer's body, or the server's message as an error.
export async function post(path, body = {}) {
  const r = await fetch(path, {
    method: "POST",
    headers: { ...auth(), "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (r.status === 401) throw new Unauthenticated("the session ended: log in again");
  const answer = await r.json();
  if (!r.ok) throw new Error(answer.error ? answer.error.message : `${path}: ${r.status}`);
  return answer;
}

// Read /stream until `signal` aborts, calling onEvent({event, id, data}) for each event and
// reconnecting after the last id seen, so a dropped connection misses nothing.
export async function stream(onEvent, onState, signal) {
  let after = null;
  while (!signal.aborted) {
    try {
      const url = after === null ? "/stream" : `/stream?after=${after}`;
      const r = await fetch(url, { headers: { ...auth(), Accept: "text/event-stream" }, signal });
      if (r.status === 401) throw new Unauthenticated("the session ended: log in again");
      if (!r.ok || !r.body) throw new Error(`stream: ${r.status}`);
      onState(true);
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replace(/\r\n/g, "\n");
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const ev = parse(block);
          if (ev) {
            if (ev.id !== null) after = ev.id;
            onEvent(ev);
          }
        }
      }
    } catch (e) {
      if (signal.aborted) return;
      if (e instanceof Unauthenticated) { onState(false); throw e; }
    }
    onState(false);
    await new Promise((ok) => setTimeout(ok, 1000));
  }
}

function parse(block) {
  let event = "message", id = null;
  const data = [];
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const i = line.indexOf(":");
    const name = i < 0 ? line : line.slice(0, i);
    let value = i < 0 ? "" : line.slice(i + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (name === "event") event = value;
    else if (name === "id") id = value;
    else if (name === "data") data.push(value);
  }
  return data.length ? { event, id, data: data.join("\n") } : null;
}

// Small DOM helpers shared by the views.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

export function svg(tag, attrs = {}) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) node.setAttribute(k, v);
  return node;
}

export function stale(panel, provenance) {
  const badge = document.querySelector(`#${panel} .stale`);
  const newer = provenance ? provenance.newer_records : 0;
  badge.hidden = !(newer > 0);
  badge.textContent = newer > 0 ? `stale: ${newer} newer record${newer === 1 ? "" : "s"}` : "stale";
}

export function when(iso) {
  return iso ? iso.replace("T", " ").replace(/\.\d+Z$|Z$/, " UTC") : "—";
}
