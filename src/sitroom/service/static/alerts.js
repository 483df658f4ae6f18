// The alerts feed: newest first, with severity, title and evidence ids (an id opens its
// records), who acknowledged each and when, and a button to acknowledge it yourself.
import { el, post, read, session, stale, when } from "./api.js";

let shown = new Set();
let refresh = async () => {};

export function setupAlerts(onChange) { refresh = onChange; }

export async function renderAlerts() {
  const answer = await read("/alerts");
  stale("panel-alerts", answer.provenance);
  const list = document.getElementById("alert-list");
  const fresh = shown.size > 0;
  const now = new Set();
  list.replaceChildren(
    ...answer.alerts.slice().reverse().map((a) => {
      now.add(a.id);
      return item(a, fresh && !shown.has(a.id));
    }),
  );
  if (!answer.alerts.length) list.append(el("li", { class: "info", text: "No alerts." }));
  shown = now;
  return answer.alerts.length;
}

function item(a, fresh) {
  const ids = el("div", { class: "evidence-ids", "aria-label": "Evidence" });
  for (const id of a.evidence) {
    ids.append(el("button", { type: "button", "data-evidence": id, text: id, onclick: () => evidence(a, id) }));
  }
  const acks = a.acknowledged || [];
  // In a room without users whoever is local is its one user: one acknowledgement is theirs.
  const mine = acks.some((k) => !session.user || k.by === session.user);
  return el(
    "li",
    { class: `${a.severity}${fresh ? " fresh" : ""}${acks.length ? " acked" : ""}`, "data-alert": a.id },
    el("span", { class: `sev ${a.severity}`, text: a.severity }),
    el("strong", { text: a.title }),
    el("div", { class: "meta", text: `${a.detector} · raised ${when(a.recorded_at)}${a.compartment ? ` · ${a.compartment}` : ""}` }),
    ids,
    ...acks.map((k) => el("div", { class: "ack", "data-ack": k.by, text: `✓ acknowledged by ${k.by} at ${when(k.at)}` })),
    mine || session.asOf ? null : el("button", { type: "button", class: "ack-button", "data-ack-alert": a.id,
      "aria-label": `Acknowledge: ${a.title}`, text: "Acknowledge", onclick: (e) => acknowledge(e.target, a) }),
  );
}

async function acknowledge(button, a) {
  button.disabled = true;
  try {
    await post(`/alerts/${encodeURIComponent(a.id)}/ack`);
    await refresh();
  } catch (e) {
    button.disabled = false;
    button.after(el("span", { class: "error", role: "alert", text: ` ${e.message}` }));
  }
}

async function evidence(alert, id) {
  const box = document.getElementById("evidence");
  box.replaceChildren(el("h3", { text: `Evidence of: ${alert.title}` }), el("p", { class: "hint", text: "Loading…" }));
  try {
    const answer = await read("/records", { id: [id] });
    const body = answer.records.map((r) =>
      el("article", { "data-record": r.id },
        el("h4", { text: `${r.kind} · ${r.id}` }),
        el("p", { class: "meta", text: `source ${r.source} · recorded ${when(r.recorded_at)}` }),
        el("pre", { text: JSON.stringify(r.payload, null, 2) })));
    if (answer.missing.length) body.push(el("p", { class: "hint", text: `Not found or not visible to you: ${answer.missing.join(", ")}` }));
    box.replaceChildren(el("h3", { text: `Evidence of: ${alert.title}` }), ...body);
  } catch (e) {
    box.replaceChildren(el("h3", { text: "Evidence" }), el("p", { class: "error", text: e.message }));
  }
}
