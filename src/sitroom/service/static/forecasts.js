// The forecasts view: each question (whatever its status) with every member as a named point,
// the aggregate, the members' range as a band, the disagreement naming both sides, and the
// forecast over time — the aggregate as a line inside the band of the members' range.
import { el, read, stale, svg, when } from "./api.js";

export async function renderForecasts() {
  const answer = await read("/views/forecasts");
  stale("panel-forecasts", answer.provenance);
  const cards = answer.forecasts.map(card);
  document.getElementById("forecast-list").replaceChildren(
    ...(cards.length ? cards : [el("p", { class: "hint", text: "No questions you may see." })]));
}

function card({ question, forecast, series }) {
  const status = question.status === "open" ? "open" : `resolved: ${question.status}`;
  const head = el("h3", {}, question.text || question.id, " ", el("span", { class: "meta", text: `(${question.id}, ${status})` }));
  const box = el("article", { class: "forecast", "data-question": question.id }, head);
  if (!forecast) return box.append(el("p", { class: "hint", text: "No forecast yet." })), box;
  box.append(
    el("p", { class: "meta", text: `aggregate ${pct(forecast.aggregate.p)} (${forecast.aggregate.method}) · range ${pct(forecast.spread.low)}–${pct(forecast.spread.high)} · ${forecast.members.length} members · ${when(forecast.at)}` }),
    members(forecast),
  );
  if (forecast.disagreement) box.append(split(forecast.disagreement));
  box.append(el("h4", { text: "Over time" }), history(series));
  return box;
}

function members(f) {
  const chart = svg("svg", { viewBox: "0 0 1000 120", preserveAspectRatio: "xMidYMid meet", role: "img", class: "members",
    "aria-label": `members ${f.members.map((m) => `${m.name} ${pct(m.p)}`).join(", ")}; aggregate ${pct(f.aggregate.p)}` });
  const x = (p) => 20 + 960 * p;
  chart.append(svg("rect", { class: "band", x: x(f.spread.low), y: 30, width: Math.max(3, 960 * f.spread.range), height: 40 }));
  chart.append(svg("line", { class: "axis", x1: x(0), x2: x(1), y1: 50, y2: 50 }));
  for (const p of [0, 0.25, 0.5, 0.75, 1]) {
    const t = svg("text", { x: x(p), y: 115, "text-anchor": "middle", class: "tick" });
    t.textContent = pct(p);
    chart.append(t);
  }
  const sorted = f.members.slice().sort((a, b) => a.p - b.p);
  sorted.forEach((m, i) => {
    const dot = svg("circle", { class: "member", cx: x(m.p), cy: 50, r: 8, "data-member": m.name });
    dot.append(Object.assign(svg("title"), { textContent: `${m.name}: ${pct(m.p)} — ${m.drivers}` }));
    const label = svg("text", { x: x(m.p), y: i % 2 ? 92 : 20, "text-anchor": m.p > 0.85 ? "end" : m.p < 0.15 ? "start" : "middle", class: "name" });
    label.textContent = `${m.name} ${pct(m.p)}`;
    chart.append(dot, label);
  });
  chart.append(svg("line", { class: "agg", x1: x(f.aggregate.p), x2: x(f.aggregate.p), y1: 26, y2: 74 }));
  return chart;
}

function split(d) {
  const side = (xs) => xs.map((s) => `${s.member} at ${pct(s.p)}`).join(", ");
  return el("div", { class: "split-flag", "data-disagreement": "" },
    el("p", {}, el("span", { class: "flag", text: "disagreement" }), ` ${Math.round(100 * d.range)} points apart (flagged above ${Math.round(100 * d.threshold)})`),
    el("ul", { class: "sides" },
      el("li", { "data-side": "high" }, el("strong", { text: "High: " }), side(d.high), el("span", { class: "meta", text: ` — ${d.high.map((s) => s.drivers).join("; ")}` })),
      el("li", { "data-side": "low" }, el("strong", { text: "Low: " }), side(d.low), el("span", { class: "meta", text: ` — ${d.low.map((s) => s.drivers).join("; ")}` }))));
}

function history(series) {
  const chart = svg("svg", { viewBox: "0 0 1000 140", preserveAspectRatio: "none", role: "img", class: "history",
    "aria-label": series.map((s) => `${when(s.at)}: ${pct(s.p)} (range ${pct(s.low)}–${pct(s.high)})`).join("; ") || "no forecast yet" });
  if (!series.length) return chart;
  const times = series.map((s) => Date.parse(s.at));
  const lo = Math.min(...times), hi = Math.max(...times, lo + 1);
  const x = (t) => 10 + (980 * (t - lo)) / (hi - lo);
  const y = (p) => 130 - 120 * p;
  // A step line: a forecast holds until the next one.
  const steps = (key) => series.flatMap((s, i) => {
    const here = x(times[i]), next = i + 1 < series.length ? x(times[i + 1]) : 990;
    return [[here, y(s[key])], [next, y(s[key])]];
  });
  const top = steps("high"), bottom = steps("low").reverse();
  chart.append(svg("polygon", { class: "band", points: [...top, ...bottom].map((p) => p.join(",")).join(" ") }));
  chart.append(svg("line", { class: "axis", x1: 10, x2: 990, y1: y(0.5), y2: y(0.5) }));
  chart.append(svg("polyline", { class: "agg-line", points: steps("p").map((p) => p.join(",")).join(" ") }));
  series.forEach((s, i) => {
    const dot = svg("circle", { cx: x(times[i]), cy: y(s.p), r: 4, class: "point" });
    dot.append(Object.assign(svg("title"), { textContent: `${when(s.at)}: ${pct(s.p)}, members ${pct(s.low)}–${pct(s.high)}` }));
    chart.append(dot);
  });
  const wrap = el("div", { class: "history-wrap" }, chart,
    el("p", { class: "meta", text: `${series.length} forecast${series.length === 1 ? "" : "s"} from ${when(series[0].at)} to ${when(series[series.length - 1].at)}; the line is the aggregate, the band the members' range.` }));
  return wrap;
}

function pct(p) { return `${Math.round(100 * p)}%`; }
