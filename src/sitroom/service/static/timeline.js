// The as-of slider (in the bar, for every view) and the timeline view: records arriving over
// time, the slider's moment on it, and what the room held then (the counts `sitroom state
// --as-of` prints).
import { el, read, session, stale, svg, when } from "./api.js";

const STEPS = 1000;
let range = null; // {first, last} in ms: the slider's ends (its right end is "now, live")

export function setupSlider(onMove) {
  const slider = document.getElementById("asof");
  slider.max = String(STEPS);
  const moved = () => {
    const at = position(Number(slider.value));
    document.getElementById("asof-text").textContent = at === null ? "now (live)" : when(at);
  };
  slider.addEventListener("input", moved);
  slider.addEventListener("change", () => {
    moved();
    session.asOf = position(Number(slider.value));
    document.body.dataset.asOf = session.asOf || "";
    onMove();
  });
  document.getElementById("asof-live").addEventListener("click", () => {
    slider.value = String(STEPS);
    slider.dispatchEvent(new Event("change"));
  });
}

// Show a moment chosen elsewhere (the page's address: #as_of=2019-10-24T16:00Z) on the slider,
// at its nearest position once the range is known.
export function showAsOf(iso) {
  session.asOf = iso;
  document.body.dataset.asOf = iso || "";
  document.getElementById("asof-text").textContent = iso ? when(iso) : "now (live)";
  if (range && iso) {
    const at = (STEPS * (Date.parse(iso) - range.first)) / Math.max(1, range.last - range.first);
    document.getElementById("asof").value = String(Math.max(0, Math.min(STEPS - 1, Math.round(at))));
  }
}

// The ISO moment of a slider position (null at the right end: now).
function position(value) {
  if (!range || value >= STEPS) return null;
  const ms = range.first + ((range.last - range.first) * value) / STEPS;
  return new Date(Math.round(ms)).toISOString();
}

export async function renderTimeline() {
  const whole = await read("/timeline", { buckets: 96 }, { now: true });
  document.getElementById("asof-box").hidden = false;
  if (whole.first) range = { first: Date.parse(whole.first), last: Date.parse(whole.last) };
  if (session.asOf && !document.getElementById("asof").dataset.placed) {
    document.getElementById("asof").dataset.placed = "1";
    showAsOf(session.asOf);
  }
  const chart = document.getElementById("timeline-chart");
  const top = Math.max(1, ...whole.counts);
  const width = 1000 / Math.max(1, whole.counts.length);
  const bars = whole.counts.map((n, i) => {
    const h = n ? Math.max(2, (150 * Math.log1p(n)) / Math.log1p(top)) : 0;
    const r = svg("rect", { x: i * width, y: 160 - h, width: Math.max(1, width - 1), height: h });
    const start = range ? new Date(range.first + i * whole.bucket_ms).toISOString() : "";
    r.append(Object.assign(svg("title"), { textContent: `${n} records from ${when(start)}` }));
    return r;
  });
  const x = session.asOf && range
    ? (1000 * (Date.parse(session.asOf) - range.first)) / Math.max(1, range.last - range.first)
    : 1000;
  bars.push(svg("line", { x1: x, x2: x, y1: 0, y2: 160 }));
  chart.replaceChildren(...bars);
  document.getElementById("timeline-range").textContent = whole.first
    ? `From ${when(whole.first)} to ${when(whole.last)}; showing ${session.asOf ? `as of ${when(session.asOf)}` : "now (live)"}.`
    : "The log is empty.";

  const state = await read("/state");
  stale("panel-timeline", state.provenance);
  const counts = [
    ["as of", when(state.provenance.as_of), "as-of"],
    ["log position", state.provenance.as_of_seq, "seq"],
    ["records", state.records, "records"],
    ["events", state.events.count, "events"],
    ...Object.entries(state.events.quad_class).map(([k, v]) => [`· ${k}`, v, `quad-${k}`]),
    ["alerts", Object.values(state.alerts).reduce((a, b) => a + b, 0), "alerts"],
    ["quarantined", Object.values(state.quarantined).reduce((a, b) => a + b, 0), "quarantined"],
    ["newer records since", state.provenance.newer_records, "newer"],
    ["records you may not see", state.provenance.hidden, "hidden"],
  ];
  document.getElementById("state-counts").replaceChildren(
    ...counts.flatMap(([k, v, key]) => [el("dt", { text: k }), el("dd", { text: String(v), "data-count": key })]),
  );
  return state;
}
