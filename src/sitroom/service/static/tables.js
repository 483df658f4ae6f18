// The table views: sources' freshness against their cadence, and the channels — breaker and
// next probe, phi and the liveness verdict, the counterpart's reply habits, what waits (an
// overdue reply said against those habits) and the pending messages by priority.
import { el, read, stale, when } from "./api.js";

const GOOD = new Set(["fresh", "closed", "alive", "agreed", "met"]);
const BAD = new Set(["overdue", "open", "suspect_peer", "suspect_path", "stalled", "broken"]);

function status(text, why = null) {
  const cls = GOOD.has(text) ? "status-ok" : BAD.has(text) ? "status-bad" : "status-warn";
  return el("td", { class: cls, text, title: why });
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

export async function renderChannels() {
  const answer = await read("/views/channels");
  stale("panel-channels", answer.provenance);
  const rows = answer.channels.map((c) =>
    el("tr", { "data-channel": c.id },
      el("th", { scope: "row", text: c.name && c.name !== c.id ? `${c.name} (${c.id})` : c.id }),
      el("td", { text: c.counterpart }),
      el("td", { text: c.track || "—" }),
      status(c.breaker, c.breaker_reason),
      el("td", { text: when(c.next_probe) }),
      el("td", { "data-phi": c.id, text: answer.phi[c.id] === null ? "—" : answer.phi[c.id].toFixed(1) }),
      status(c.liveness, c.liveness_reason),
      el("td", { text: `${duration(c.reply_bound_ms)} of working time (${c.reply_bound_learned
        ? `learned from ${c.replies_seen} replies` : `default: ${c.replies_seen} repl${c.replies_seen === 1 ? "y" : "ies"} seen`}); ${c.working_week}` }),
      el("td", { text: String(c.pending) }),
      el("td", { text: String(c.acked) })));
  if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: "10", text: "No channels you may see." })));
  document.querySelector("#channels-table tbody").replaceChildren(...rows);
  const reasons = answer.channels.flatMap((c) => [c.breaker_reason && `${c.name}: breaker ${c.breaker}, ${c.breaker_reason}`,
    c.liveness_reason && `${c.name}: ${c.liveness}, ${c.liveness_reason}`]).filter(Boolean);
  const messages = answer.messages.map((m) =>
    el("li", { class: m.overdue ? "status-bad" : "", "data-message": m.message },
      el("strong", { text: `${m.priority} ${m.message}` }),
      ` to ${m.counterpart} on ${m.path.join(" → ")}: ${m.status}, ${m.attempts} attempt${m.attempts === 1 ? "" : "s"}, sent ${when(m.sent_at)}`,
      m.awaits_reply ? el("div", { class: "meta", text: m.overdue ? `Reply overdue: ${m.overdue}` : `Awaits a reply${m.reply_by ? ` by ${when(m.reply_by)}` : ""}` }) : null));
  for (const r of reasons) messages.push(el("li", { class: "meta", text: r }));
  document.getElementById("channel-messages").replaceChildren(
    ...(messages.length ? messages : [el("li", { text: "Nothing waits for an ack or a reply." })]));
  document.getElementById("pending-priority").replaceChildren(
    ...Object.entries(answer.pending_by_priority).flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: String(v), "data-priority": k })]));
}
