// The table views: sources' freshness, tracks with their preconditions and deadlocks in
// words, channels' breakers and liveness, and forecasts with every member as a point.
import { el, read, stale, svg, when } from "./api.js";

const GOOD = new Set(["fresh", "closed", "alive", "agreed", "met"]);
const BAD = new Set(["overdue", "open", "suspect_peer", "suspect_path", "stalled", "broken"]);

function status(text) {
  const cls = GOOD.has(text) ? "status-ok" : BAD.has(text) ? "status-bad" : "status-warn";
  return el("td", { class: cls, text });
}

function duration(ms) {
  if (ms === null || ms === undefined) return "—";
  const h = ms / 3_600_000;
  return h >= 48 ? `${(h / 24).toFixed(1)} d` : h >= 1 ? `${h.toFixed(1)} h` : `${Math.round(ms / 60_000)} min`;
}

export async function renderSources() {
  const state = await read("/state");
  stale("panel-sources", state.provenance);
  const rows = Object.entries(state.sources).map(([name, s]) =>
    el("tr", { "data-source": name },
      el("th", { scope: "row", text: s.title ? `${name} (${s.title})` : name }),
      el("td", { text: s.records.toLocaleString("en") }),
      el("td", { text: s.cadence_ms ? `every ${duration(s.cadence_ms)}` : "none declared" }),
      el("td", { text: when(s.last_arrival) }),
      el("td", { text: when(s.newest_valid) }),
      status(s.status)));
  document.querySelector("#sources-table tbody").replaceChildren(...rows);
}

export async function renderTracks() {
  const [list, check] = await Promise.all([read("/tracks"), read("/tracks/check")]);
  stale("panel-tracks", list.provenance.newer_records ? list.provenance : check.provenance);
  const rows = list.tracks.map((t) =>
    el("tr", { "data-track": t.id },
      el("th", { scope: "row", text: `${t.name} (${t.id})` }),
      status(t.status),
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

export async function renderChannels() {
  const answer = await read("/channels");
  stale("panel-channels", answer.provenance);
  const rows = answer.channels.map((c) =>
    el("tr", { "data-channel": c.id },
      el("th", { scope: "row", text: c.name && c.name !== c.id ? `${c.name} (${c.id})` : c.id }),
      el("td", { text: c.counterpart }),
      el("td", { text: c.track || "—" }),
      status(c.breaker),
      el("td", { text: when(c.next_probe) }),
      status(c.liveness),
      el("td", { text: String(c.pending) }),
      el("td", { text: String(c.acked) })));
  if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: "8", text: "No channels you may see." })));
  document.querySelector("#channels-table tbody").replaceChildren(...rows);
}

export async function renderForecasts() {
  const answer = await read("/forecasts");
  stale("panel-forecasts", answer.provenance);
  const cards = answer.forecasts.map(({ question, forecast }) => {
    const head = el("h3", { text: question.text || question.id });
    if (!forecast) return el("article", { class: "forecast", "data-question": question.id }, head, el("p", { class: "hint", text: "No forecast yet." }));
    const chart = svg("svg", { viewBox: "0 0 100 20", preserveAspectRatio: "none", role: "img",
      "aria-label": `members from ${pct(forecast.spread.low)} to ${pct(forecast.spread.high)}, aggregate ${pct(forecast.aggregate.p)}` });
    chart.append(svg("rect", { class: "band", x: 100 * forecast.spread.low, y: 3, width: Math.max(0.3, 100 * forecast.spread.range), height: 14 }));
    chart.append(svg("line", { class: "axis", x1: 0, x2: 100, y1: 10, y2: 10 }));
    for (const m of forecast.members) {
      const dot = svg("circle", { class: "member", cx: 100 * m.p, cy: 10, r: 1.2 });
      dot.append(Object.assign(svg("title"), { textContent: `${m.name}: ${pct(m.p)} — ${m.drivers}` }));
      chart.append(dot);
    }
    chart.append(svg("line", { class: "agg", x1: 100 * forecast.aggregate.p, x2: 100 * forecast.aggregate.p, y1: 1, y2: 19 }));
    const flag = forecast.disagreement
      ? el("p", {}, el("span", { class: "flag", text: "disagreement" }), " ", forecast.disagreement.summary)
      : null;
    return el("article", { class: "forecast", "data-question": question.id }, head,
      el("p", { class: "meta", text: `aggregate ${pct(forecast.aggregate.p)} · range ${pct(forecast.spread.low)}–${pct(forecast.spread.high)} · ${forecast.members.length} members · ${when(forecast.at)}` }),
      chart, flag);
  });
  document.getElementById("forecast-list").replaceChildren(
    ...(cards.length ? cards : [el("p", { class: "hint", text: "No questions you may see." })]));
}

function pct(p) { return `${Math.round(100 * p)}%`; }
