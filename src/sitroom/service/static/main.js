// The page: logging in, the tabs (arrow keys move between them), refreshing every view when
// the slider moves or the stream brings a record, and the stream itself.
import { login, logout, session, stream, Unauthenticated } from "./api.js";
import { renderAlerts, setupAlerts } from "./alerts.js";
import { renderForecasts } from "./forecasts.js";
import { renderMap, setupMap } from "./map.js";
import { renderMarks, setupMarks } from "./marks.js";
import { renderChannels, renderSources } from "./tables.js";
import { renderTimeline, setupSlider, showAsOf } from "./timeline.js";
import { renderTracks, setupTracks } from "./tracks.js";

const VIEWS = {
  alerts: renderAlerts, map: renderMap, marks: renderMarks, timeline: renderTimeline,
  sources: renderSources, tracks: renderTracks, channels: renderChannels, forecasts: renderForecasts,
};
let streaming = null;
let pending = null;
let running = null;

function showLogin(message = "") {
  document.getElementById("login-view").hidden = false;
  document.getElementById("dash").hidden = true;
  document.getElementById("logout").hidden = true;
  document.getElementById("asof-box").hidden = true;
  document.getElementById("who").textContent = "";
  document.getElementById("login-error").textContent = message;
  if (streaming) streaming.abort();
}

// Every view is refreshed, not only the one shown: a wall screen cycles through them, and
// the test of the stream looks at the map and the alerts at once.
async function refresh() {
  if (running) { pending = pending || running.then(() => { pending = null; return refresh(); }); return pending; }
  running = (async () => {
    const results = await Promise.allSettled(Object.values(VIEWS).map((render) => render()));
    const out = results.find((r) => r.status === "rejected" && r.reason instanceof Unauthenticated);
    if (out) { await logout(); showLogin(out.reason.message); }
    for (const r of results) if (r.status === "rejected" && !(r.reason instanceof Unauthenticated)) console.warn(r.reason);
    document.body.dataset.refreshed = String(Date.now());
  })();
  try { await running; } finally { running = null; }
}

function start() {
  document.getElementById("login-view").hidden = true;
  document.getElementById("dash").hidden = false;
  document.getElementById("logout").hidden = !session.token;
  document.getElementById("who").textContent = session.user ? `as ${session.user}` : "single-user room";
  streaming = new AbortController();
  const live = document.getElementById("live");
  stream(
    () => refresh(),
    (on) => { live.textContent = on ? "live" : "reconnecting…"; live.classList.toggle("on", on); },
    streaming.signal,
  ).catch(async (e) => { await logout(); showLogin(e.message); });
  refresh();
}

function tabs() {
  const all = [...document.querySelectorAll("[role=tab]")];
  const select = (tab) => {
    for (const t of all) {
      const on = t === tab;
      t.setAttribute("aria-selected", String(on));
      t.tabIndex = on ? 0 : -1;
      document.getElementById(t.getAttribute("aria-controls")).hidden = !on;
    }
    tab.focus();
  };
  for (const [i, t] of all.entries()) {
    t.addEventListener("click", () => select(t));
    t.addEventListener("keydown", (e) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[e.key];
      if (step) { e.preventDefault(); select(all[(i + step + all.length) % all.length]); }
      if (e.key === "Home") select(all[0]);
      if (e.key === "End") select(all[all.length - 1]);
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  // The page's address may name a moment (#as_of=ISO): the views open as of then.
  const at = new URLSearchParams(location.hash.slice(1)).get("as_of");
  if (at && !Number.isNaN(Date.parse(at))) showAsOf(new Date(Date.parse(at)).toISOString());
  tabs();
  setupMap();
  setupMarks();
  setupTracks();
  setupAlerts(refresh);
  setupSlider(refresh);
  document.getElementById("login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = new FormData(e.target);
    try {
      await login(form.get("user"), form.get("passphrase"));
      e.target.reset();
      start();
    } catch (err) {
      document.getElementById("login-error").textContent = err.message;
    }
  });
  document.getElementById("logout").addEventListener("click", async () => { await logout(); showLogin(); });
  opening();
});

// A room without users needs no token (its one user is whoever is local): the dashboard opens
// straight away there; a room with users asks who you are.
async function opening() {
  if (session.token) return start();
  const health = await fetch("/healthz").then((r) => r.json()).catch(() => null);
  if (health && health.users === false) start(); else showLogin();
}
