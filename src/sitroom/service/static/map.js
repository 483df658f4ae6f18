// The map: Natural Earth countries in plain lon/lat (x = lon, y = -lat, equirectangular), the
// events the server counted in grid cells (four sub-squares per cell, one per QuadClass), and
// the tracks' venues with their radius rings. Layers toggle; presets frame a region; each
// source toggles, and the server recounts the cells for the sources left on.
import { el, read, stale, svg } from "./api.js";

const REGIONS = {
  me: "24 -44 42 32", // Middle East: 24..66 E, 12..44 N
  europe: "-14 -72 56 38", // Europe: 14 W..42 E, 34..72 N
  world: "-180 -90 360 180",
};
const MI_PER_DEG_LAT = 69.05;
const layers = { q1: true, q2: true, q3: true, q4: true, q0: true, venues: true };
const SOURCE_NAMES = { "gdelt-v1": "GDELT 1.0", "gdelt-v2": "GDELT 2.0", "ucdp-ged": "UCDP GED", acled: "ACLED" };
// Sources by name: the ones turned off, and every one an answer has named (the server knows
// them as of now, so asking for one absent at an earlier moment is no error).
const off = new Set();
const known = new Set();
let drawn = false;
let asked = 0; // the latest read: an older answer arriving after it is not drawn
let toggles = 0;

export function setupMap() {
  for (const b of document.querySelectorAll("[data-region]")) {
    b.addEventListener("click", () => region(b.dataset.region));
  }
  const box = document.getElementById("layers");
  const names = { q1: "Verbal cooperation", q2: "Material cooperation", q3: "Verbal conflict",
    q4: "Material conflict", q0: "No QuadClass", venues: "Venues and rings" };
  for (const [key, label] of Object.entries(names)) {
    const input = el("input", { type: "checkbox", id: `layer-${key}`, checked: true });
    input.addEventListener("change", () => { layers[key] = input.checked; visibility(); });
    const swatch = key === "venues" ? null : el("span", { class: "swatch", "data-q": key });
    box.append(el("label", { for: `layer-${key}` }, input, " ", swatch, swatch ? " " : null, label));
  }
  for (const s of box.querySelectorAll(".swatch")) s.classList.add(`sw-${s.dataset.q}`);
}

function region(name) {
  document.getElementById("map").setAttribute("viewBox", REGIONS[name]);
  document.getElementById("map").dataset.region = name;
  labels();
}

async function basemap() {
  if (drawn) return;
  const answer = await read("/map/basemap", {}, { now: true });
  const g = document.getElementById("basemap");
  for (const c of answer.countries) {
    const path = svg("path", { d: c.d, class: "land", "data-country": c.id });
    path.append(Object.assign(svg("title"), { textContent: c.name }));
    g.append(path);
  }
  drawn = true;
}

export async function renderMap() {
  await basemap();
  const mine = ++asked;
  let answer = await read("/map", { cell: 1, sources: chosen() });
  const missed = Object.keys(answer.sources).some((name) => !known.has(name));
  for (const name of Object.keys(answer.sources)) known.add(name);
  // A source new to the page was left out of the filter: it is shown unless turned off.
  if (missed && off.size) answer = await read("/map", { cell: 1, sources: chosen() });
  if (mine !== asked) return answer;
  if (!chosen() && off.size) answer = { ...answer, events: 0, unplaced: 0, cells: [] }; // all off
  draw(answer);
  return answer;
}

// The sources to ask for: null (every one) unless some are off, and null when all are (the
// answer then still names the sources; its cells are not drawn).
function chosen() {
  if (!off.size) return null;
  return [...known].filter((name) => !off.has(name)).sort().join(",") || null;
}

function shownNames() {
  return [...known].filter((name) => !off.has(name)).sort();
}

function label(name) {
  return SOURCE_NAMES[name] || name;
}

// One checkbox per source present, kept across redraws (a keyboard user's focus stays put).
function sourceToggles(counts) {
  const box = document.getElementById("sources");
  const present = new Set(Object.keys(counts));
  for (const l of box.querySelectorAll("label[data-source]")) if (!present.has(l.dataset.source)) l.remove();
  for (const name of Object.keys(counts).sort()) {
    let row = [...box.querySelectorAll("label[data-source]")].find((l) => l.dataset.source === name);
    if (!row) {
      const input = el("input", { type: "checkbox", id: `source-${++toggles}`, "data-source": name });
      input.checked = !off.has(name);
      input.addEventListener("change", () => {
        if (input.checked) off.delete(name); else off.add(name);
        renderMap().catch((e) => console.warn(e));
      });
      row = el("label", { for: input.id, "data-source": name }, input, " ", el("span", { class: "source-name" }));
      box.append(row);
    }
    row.querySelector(".source-name").textContent = `${label(name)} (${counts[name].toLocaleString("en")})`;
    row.dataset.count = counts[name];
    box.append(row); // in order of name
  }
}

function draw(answer) {
  stale("panel-map", answer.provenance);
  sourceToggles(answer.sources);
  const cells = document.getElementById("cells");
  const groups = {};
  for (const q of ["q0", "q1", "q2", "q3", "q4"]) groups[q] = svg("g", { "data-layer": q });
  const half = answer.cell_deg / 2;
  const max = Math.max(1, ...answer.cells.map((c) => c[3]));
  const totals = { 0: 0, 1: 0, 2: 0, 3: 0, 4: 0 };
  for (const [lat, lon, q, n] of answer.cells) {
    totals[q] += n;
    // q1 top-left, q2 top-right, q3 bottom-left, q4 bottom-right; no class: the whole cell
    const dx = q === 2 || q === 4 ? half : 0;
    const dy = q === 3 || q === 4 ? half : 0;
    const side = q === 0 ? answer.cell_deg : half;
    const rect = svg("rect", {
      x: lon + dx, y: -(lat + answer.cell_deg) + dy, width: side, height: side,
      class: `cell q${q}`, "fill-opacity": (0.35 + 0.65 * Math.log1p(n) / Math.log1p(max)).toFixed(2),
      "data-lat": lat, "data-lon": lon, "data-q": q, "data-count": n,
    });
    const name = q ? answer.quad_classes[String(q)] : "no QuadClass";
    rect.append(Object.assign(svg("title"), { textContent: `${n} event${n === 1 ? "" : "s"} · ${name} · cell ${lat}°, ${lon}°` }));
    groups[`q${q}`].append(rect);
  }
  cells.replaceChildren(...Object.values(groups));
  const shown = shownNames();
  cells.dataset.shown = shown.join(",");
  const venues = document.getElementById("venues");
  venues.replaceChildren(...answer.venues.map(venue));
  visibility();
  labels();
  const all = Object.keys(answer.sources).length;
  document.getElementById("map-sources").textContent = !shown.length
    ? "No source shown: turn one on to see its events."
    : `Showing events from ${shown.map(label).join(", ")}` +
      (off.size ? ` (not ${[...off].sort().map(label).join(", ")})` : all > 1 ? " (every source)" : "");
  const placed = answer.events - answer.unplaced;
  document.getElementById("map-summary").textContent =
    `${answer.events.toLocaleString("en")} events (${placed.toLocaleString("en")} placed) in ` +
    `${answer.cells.length.toLocaleString("en")} cells · ` +
    [1, 2, 3, 4].map((q) => `${answer.quad_classes[q]} ${totals[q].toLocaleString("en")}`).join(" · ");
  for (const q of [0, 1, 2, 3, 4]) {
    const input = document.getElementById(`layer-q${q}`);
    if (input) input.parentElement.dataset.count = totals[q];
  }
}

function venue(v) {
  const g = svg("g", { "data-venue": v.track });
  const ry = v.radius_mi / MI_PER_DEG_LAT;
  const rx = ry / Math.max(0.05, Math.cos((v.lat * Math.PI) / 180));
  g.append(svg("ellipse", { cx: v.lon, cy: -v.lat, rx, ry, class: "ring" }));
  g.append(svg("circle", { cx: v.lon, cy: -v.lat, r: 0.35, class: "venue" }));
  const t = svg("text", { x: v.lon + 0.6, y: -v.lat - 0.4, class: "label" });
  t.textContent = `${v.venue} · ${v.name} (${v.radius_mi} mi)`;
  g.append(t);
  g.append(Object.assign(svg("title"), { textContent: `${v.name} at ${v.venue}: ${v.radius_mi} mi ring` }));
  return g;
}

// Labels keep one on-screen size whatever region is framed.
function labels() {
  const box = document.getElementById("map").getAttribute("viewBox").split(" ").map(Number);
  const size = box[2] / 70;
  for (const t of document.querySelectorAll("#venues text")) t.setAttribute("font-size", size.toFixed(2));
  for (const c of document.querySelectorAll("#venues circle")) c.setAttribute("r", (size / 3).toFixed(2));
}

function visibility() {
  for (const g of document.querySelectorAll("#cells [data-layer]")) {
    g.setAttribute("visibility", layers[g.dataset.layer] ? "visible" : "hidden");
  }
  document.getElementById("venues").setAttribute("visibility", layers.venues ? "visible" : "hidden");
}
