// The tracks view: the wait-for graph (tracks and resources as nodes, an arrow from whoever
// waits to what it waits for) with each deadlock's knot in red and in words; a Gantt of the
// meetings and holdings with the over-booked windows; the what-if of a slip, asked of the
// server's what-if; and the table of statuses and preconditions.
import { el, post, read, session, stale, svg, when } from "./api.js";

const GOOD = new Set(["agreed", "met", "signed", "implemented"]);
let choices = "";

export function setupTracks() {
  document.getElementById("whatif-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = new FormData(e.target);
    const box = document.getElementById("whatif-answer");
    box.replaceChildren(el("p", { class: "hint", text: "Solving…" }));
    try {
      const answer = await post("/tracks/whatif/delay", {
        target: form.get("target"), delay: form.get("delay"), as_of: session.asOf, time_limit: 5,
      });
      box.replaceChildren(...whatif(answer));
    } catch (err) {
      box.replaceChildren(el("p", { class: "error", text: err.message }));
    }
    box.dataset.answered = String(Date.now());
  });
}

export async function renderTracks() {
  const [list, check, view] = await Promise.all([read("/tracks"), read("/tracks/check"), read("/views/tracks")]);
  stale("panel-tracks", [list, check, view].map((a) => a.provenance).find((p) => p.newer_records) || view.provenance);
  graph(view);
  gantt(view);
  targets(view);
  const rows = list.tracks.map((t) =>
    el("tr", { "data-track": t.id },
      el("th", { scope: "row", text: `${t.name} (${t.id})` }),
      el("td", { class: GOOD.has(t.status) ? "status-ok" : "status-warn", text: t.status }),
      el("td", { text: t.venue || "—" }),
      el("td", { text: String(t.priority) }),
      el("td", { text: t.preconditions.length
        ? t.preconditions.map((p) => `${p.track} ${p.status}: ${p.met ? "met" : "not met"}`).join("; ")
        : "none" })));
  document.querySelector("#tracks-table tbody").replaceChildren(...rows);
  const items = [
    ...check.deadlocks.map((d) => el("li", { class: "status-bad" },
      el("strong", { text: `Deadlock: ${d.cycle.join(" → ")}. ` }), d.sentence,
      d.ways_out.length ? el("div", { class: "meta", text: `Ways out: ${d.ways_out.map((w) => w.join(", ")).join(" or ")}` }) : null)),
    ...check.contention.map((c) => el("li", { class: "status-warn" },
      el("strong", { text: `${c.name} over-booked by ${c.over_by}: ` }),
      `${c.tracks.join(", ")} need it ${when(c.since)} to ${when(c.until)} (capacity ${c.capacity})`)),
  ];
  document.getElementById("deadlocks").replaceChildren(
    ...(items.length ? items : [el("li", { text: `No deadlock and no over-booked resource at ${when(check.at)}.` })]));
}

// Nodes on a circle (a room has a handful of tracks and resources), edges as arrows.
function graph(view) {
  const box = document.getElementById("waitfor");
  const W = 640, H = 360, R = Math.min(W, H) / 2 - 60;
  const at = {};
  view.nodes.forEach((n, i) => {
    const a = -Math.PI / 2 + (2 * Math.PI * i) / Math.max(1, view.nodes.length);
    at[n.id] = [W / 2 + R * Math.cos(a) * 1.45, H / 2 + R * Math.sin(a)];
  });
  const defs = svg("defs");
  for (const [id, cls] of [["arrow", "arrow"], ["arrow-knot", "arrow knot"]]) {
    const m = svg("marker", { id, viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 8, markerHeight: 8, orient: "auto-start-reverse" });
    m.append(svg("path", { d: "M0 0L10 5L0 10z", class: cls }));
    defs.append(m);
  }
  const parts = [defs];
  for (const e of view.edges) {
    const [x1, y1] = at[e.source], [x2, y2] = at[e.target];
    const len = Math.hypot(x2 - x1, y2 - y1) || 1;
    const pad = 44 / len;
    const line = svg("line", {
      x1: x1 + (x2 - x1) * pad, y1: y1 + (y2 - y1) * pad, x2: x2 - (x2 - x1) * pad, y2: y2 - (y2 - y1) * pad,
      class: e.knot ? "edge knot" : "edge", "marker-end": e.knot ? "url(#arrow-knot)" : "url(#arrow)",
      "data-source": e.source, "data-target": e.target,
    });
    line.append(Object.assign(svg("title"), { textContent: e.why }));
    parts.push(line);
  }
  for (const n of view.nodes) {
    const [x, y] = at[n.id];
    const g = svg("g", { class: `node ${n.kind}${n.knot ? " knot" : ""}`, "data-node": n.id });
    g.append(n.kind === "track"
      ? svg("rect", { x: x - 46, y: y - 18, width: 92, height: 36, rx: 6 })
      : svg("circle", { cx: x, cy: y, r: 24 }));
    const label = svg("text", { x, y: y + 40, "text-anchor": "middle" });
    label.textContent = n.name.length > 48 ? `${n.name.slice(0, 47)}…` : n.name;
    const kind = svg("text", { x, y: y + 5, "text-anchor": "middle", class: "kind" });
    kind.textContent = n.kind === "track" ? (n.status || "track") : "resource";
    g.append(kind, label, Object.assign(svg("title"), { textContent: `${n.name} (${n.id})` }));
    parts.push(g);
  }
  box.replaceChildren(...parts);
  const words = document.getElementById("waitfor-words");
  const said = view.knots.map((k) => el("p", { class: "status-bad", "data-knot": k.nodes.join("|") },
    el("strong", { text: "Deadlock. " }), `${k.sentence}.`,
    k.ways_out.length ? el("span", { class: "meta", text: ` Ending any one of these undoes it: ${k.ways_out.map((w) => w.join(" and ")).join("; or ")}.` }) : null));
  if (!said.length) {
    said.push(el("p", { class: "hint", text: view.edges.length
      ? `No deadlock at ${when(view.at)}: ${view.edges.length} wait${view.edges.length === 1 ? "" : "s"}, none in a circle.`
      : `Nobody waits at ${when(view.at)}.` }));
  }
  words.replaceChildren(...said);
}

function gantt(view) {
  const chart = document.getElementById("gantt");
  const rows = [];
  const tracks = Object.fromEntries(view.nodes.filter((n) => n.kind === "track").map((n) => [n.id.slice(6), n.name]));
  for (const m of view.meetings) rows.push({ label: `${m.title}`, bars: [{ ...m, cls: m.placed ? "meeting" : "meeting window", what: `${m.title}${m.placed ? "" : " (its window: not yet scheduled)"}` }] });
  const byResource = {};
  for (const h of view.holdings) (byResource[h.resource] ||= []).push(h);
  for (const [rid, held] of Object.entries(byResource)) {
    for (const h of held) {
      rows.push({ resource: rid, label: `${h.name} · ${tracks[h.track] || h.track}`,
        bars: [{ ...h, cls: "hold", what: `${tracks[h.track] || h.track} holds ${h.name}` }] });
    }
  }
  const times = [...view.meetings, ...view.holdings, ...view.contention].flatMap((x) => [x.start, x.end]).filter(Boolean).map(Date.parse);
  const asOf = Date.parse(view.at);
  if (!rows.length || !times.length) {
    chart.setAttribute("viewBox", "0 0 1000 30");
    const t = svg("text", { x: 10, y: 20, class: "hint" });
    t.textContent = "No meetings or holdings you may see.";
    chart.replaceChildren(t);
    return;
  }
  const lo = Math.min(...times), hi = Math.max(...times, lo + 86_400_000);
  const LEFT = 300, WIDTH = 1000 - LEFT - 10, ROW = 24, TOP = 22;
  const x = (ms) => LEFT + (WIDTH * (Math.min(Math.max(ms, lo), hi) - lo)) / (hi - lo);
  const height = TOP + rows.length * ROW + 8;
  chart.setAttribute("viewBox", `0 0 1000 ${height}`);
  const parts = [];
  const days = (hi - lo) / 86_400_000;
  const step = days > 60 ? 14 : days > 20 ? 7 : days > 6 ? 2 : 1;
  for (let d = Math.ceil(lo / 86_400_000); d * 86_400_000 <= hi; d += step) {
    const gx = x(d * 86_400_000);
    parts.push(svg("line", { x1: gx, x2: gx, y1: TOP - 4, y2: height, class: "grid" }));
    const t = svg("text", { x: gx + 2, y: 14, class: "tick" });
    t.textContent = new Date(d * 86_400_000).toISOString().slice(5, 10);
    parts.push(t);
  }
  rows.forEach((row, i) => {
    const y = TOP + i * ROW;
    const label = svg("text", { x: 4, y: y + 16, class: "row" });
    label.textContent = row.label.length > 44 ? `${row.label.slice(0, 43)}…` : row.label;
    parts.push(label);
    for (const c of view.contention.filter((c) => c.resource === row.resource)) {
      const r = svg("rect", { x: x(Date.parse(c.start)), y, width: Math.max(2, x(c.end ? Date.parse(c.end) : hi) - x(Date.parse(c.start))), height: ROW - 2, class: "over", "data-contention": c.resource });
      r.append(Object.assign(svg("title"), { textContent: `${c.name} over-booked by ${c.over_by}: ${c.tracks.join(", ")} from ${when(c.start)} to ${when(c.end)}` }));
      parts.push(r);
    }
    for (const b of row.bars) {
      const start = b.start ? Date.parse(b.start) : lo, end = b.end ? Date.parse(b.end) : hi;
      const r = svg("rect", { x: x(start), y: y + 4, width: Math.max(2, x(end) - x(start)), height: ROW - 10, class: b.cls });
      r.append(Object.assign(svg("title"), { textContent: `${b.what}: ${when(b.start)} to ${when(b.end)}` }));
      parts.push(r);
    }
  });
  if (asOf >= lo && asOf <= hi) parts.push(svg("line", { x1: x(asOf), x2: x(asOf), y1: TOP - 4, y2: height, class: "now" }));
  chart.replaceChildren(...parts);
}

// The what-if's choices: each track with a meeting, then each meeting (kept while unchanged,
// so a choice survives a refresh).
function targets(view) {
  const options = [
    ...[...new Set(view.meetings.map((m) => m.track))].map((t) => [t, `track ${t} (all its meetings)`]),
    ...view.meetings.map((m) => [m.id, `meeting: ${m.title}`]),
  ];
  const key = JSON.stringify(options);
  if (key === choices) return;
  choices = key;
  const select = document.getElementById("whatif-target");
  select.replaceChildren(...options.map(([value, text]) => el("option", { value, text })));
  document.querySelector("#whatif-form button").disabled = !options.length;
}

function whatif(a) {
  const out = [el("p", {}, el("strong", { text: `If ${a.scenario}: ` }),
    a.status === "infeasible" || a.status === "unknown"
      ? "no schedule exists."
      : `${a.moves.length} meeting${a.moves.length === 1 ? "" : "s"} move, ${a.unchanged ?? 0} stay.`)];
  if (a.conflict.length) {
    out.push(el("p", { text: "These constraints cannot all hold (each is part of the conflict: relax one to break it):" }));
    out.push(el("ul", { class: "conflict" }, ...a.conflict.map((c) => el("li", { text: c.why }))));
  }
  if (a.moves.length) {
    out.push(el("ul", { class: "moves" }, ...a.moves.map((m) =>
      el("li", { text: `${m.title}: ${when(m.old_start)} → ${when(m.new_start)} (${m.shift}), because ${m.because}` }))));
  }
  if (a.tracks.length) {
    out.push(el("p", { class: "meta", text: `Tracks slip: ${a.tracks.map((t) => `${t.name} ${t.slip}`).join("; ")}` }));
  }
  if (a.base) out.push(el("p", { class: "meta", text: `From ${a.base}.` }));
  return out;
}
