// The map's highlights over the cells: each event that crossed a red line (ringed in red,
// named by its alert), and the nearby conflicts that move a forecast (in orange, named, with
// how far they move it). Two more layers that toggle; the list under the map says the same
// in words.
import { el, read, svg } from "./api.js";

const layers = { hits: true, nearby: true };
let last = null;

export function setupMarks() {
  const box = document.getElementById("layers");
  const names = { hits: "Red line hits", nearby: "Conflicts moving a forecast" };
  for (const [key, label] of Object.entries(names)) {
    const input = el("input", { type: "checkbox", id: `layer-${key}`, checked: true });
    input.addEventListener("change", () => { layers[key] = input.checked; visibility(); });
    box.append(el("label", { for: `layer-${key}` }, input, " ", el("span", { class: `swatch sw-${key}` }), " ", label));
  }
  // Marks keep one on-screen size whatever region is framed: redrawn once the frame changed.
  for (const b of document.querySelectorAll("[data-region]")) {
    b.addEventListener("click", () => { if (last) draw(last); });
  }
}

export async function renderMarks() {
  last = await read("/views/map-marks");
  draw(last);
  return last;
}

function draw(answer) {
  const box = document.getElementById("map").getAttribute("viewBox").split(" ").map(Number);
  const r = box[2] / 160;
  const hits = svg("g", { "data-layer": "hits" });
  for (const h of answer.redline_hits) {
    const c = svg("circle", { cx: h.lon, cy: -h.lat, r, class: "hit", "data-event": h.event });
    c.append(Object.assign(svg("title"), { textContent: `${h.event}: ${h.title}` }));
    hits.append(c);
  }
  const nearby = svg("g", { "data-layer": "nearby" });
  for (const c of answer.nearby) {
    const g = svg("g", { "data-conflict": c.conflict });
    for (const e of c.events) g.append(svg("circle", { cx: e.lon, cy: -e.lat, r: r * 0.8, class: "nearby", "data-event": e.event }));
    g.append(Object.assign(svg("title"), { textContent: `${c.conflict}: ${moves(c)}` }));
    const first = c.events[0];
    const t = svg("text", { x: first.lon + r * 1.2, y: -first.lat + r * 0.4, "font-size": (box[2] / 90).toFixed(2), class: "conflict-name" });
    t.textContent = c.conflict;
    g.append(t);
    nearby.append(g);
  }
  document.getElementById("marks").replaceChildren(hits, nearby);
  visibility();
  const byAlert = {};
  for (const h of answer.redline_hits) (byAlert[h.alert] ||= { ...h, n: 0 }).n += 1;
  const items = [
    ...Object.values(byAlert).map((h) => el("li", { class: "status-bad", "data-hit": h.alert },
      el("strong", { text: "Red line: " }), `${h.title} (${h.n} event${h.n === 1 ? "" : "s"} on the map)`)),
    ...answer.nearby.map((c) => el("li", { class: "status-warn", "data-nearby": c.conflict },
      el("strong", { text: `${c.conflict}: ` }), moves(c))),
  ];
  document.getElementById("map-marks").replaceChildren(...items);
}

function moves(c) {
  const pts = 100 * (c.contribution || 0);
  const sign = pts < 0 ? "−" : "+";
  return `${c.events.length} event${c.events.length === 1 ? "" : "s"}, nearest ${Math.round(c.nearest_km)} km from ${c.near}; ` +
    `moves the forecast of ‘${c.question_text}’ by ${sign}${Math.abs(pts).toFixed(2)} pts`;
}

function visibility() {
  for (const g of document.querySelectorAll("#marks [data-layer]")) {
    g.setAttribute("visibility", layers[g.dataset.layer] ? "visible" : "hidden");
  }
}
