// One device: what it is, its provisioning run as a timeline (each step with
// its time, the spec's step label, the event in words and its detail), its
// lease, its firmware (the version it reports against the rules' target), the
// last config file built for it (decoded), and for the operator role the reset
// and re-provision actions. A SIP phone also shows its subscription and the
// profile version served against the one it holds.

import { ApiError, get, post } from "./api.js";
import { $, agoText, countText, el, fill, macText, spanText, timeText } from "./dom.js";
import { RESULT_WORDS, describe, isFailure } from "./events.js";

let ctx = null;
let mac = "";
let shown = "";  // what the page shows, to redraw only on a change
let message = null;  // the outcome of the last action, kept across redraws

const kindWord = (kind) => (kind === "mta" ? "eMTA" : kind === "cm" ? "cable modem" : kind === "sip" ? "SIP phone" : String(kind || "?"));

export async function open(which, context) {
  ctx = context;
  if (which !== mac) message = null;
  mac = which;
  shown = "";
  fill($("device-body"), el("p", { class: "note", text: `Loading ${macText(mac)}…` }));
  $("back").setAttribute("href", sessionStorage.getItem("pktcable.lastView") || "#/");
  await refresh();
  document.body.dataset.view = "device";
  document.body.dataset.loaded = location.hash;
}

export async function refresh() {
  const asked = mac;  // another device may be opened while this answer is on its way
  let device;
  try {
    device = await get(`/devices/${encodeURIComponent(asked)}`);
  } catch (exc) {
    if (asked !== mac) return;
    if (exc instanceof ApiError && exc.status === 404) {
      fill($("device-body"), el("h1", { text: macText(mac) }), el("p", { class: "error", text: exc.message }));
      shown = "";
      return;
    }
    throw exc;
  }
  if (asked !== mac) return;
  const key = JSON.stringify(device);
  if (key === shown) return;
  shown = key;
  render(device);
}

function facts(pairs) {
  return el("dl", { class: "facts" }, pairs.filter(([, v]) => v !== null && v !== undefined && v !== "")
    .map(([term, value]) => [el("dt", { text: term }), el("dd", {}, value)]));
}

function resultText(result) {
  if (result === null || result === undefined) return "";
  return `${result}${RESULT_WORDS[result] ? ` (${RESULT_WORDS[result]})` : ""}`;
}

function render(device) {
  const outcome = String(device.outcome || "new");
  const history = Array.isArray(device.history) ? device.history : [];
  const body = $("device-body");
  fill(body,
    el("div", { class: "device-head" },
      el("h1", {}, el("span", { class: "mac", text: macText(device.mac) }), " ",
        el("span", { class: "kind", text: kindWord(device.kind) })),
      el("span", { class: `badge big outcome-${outcome}`, text: outcome === "fail" ? "failing" : outcome })),
    failureLine(device, history),
    facts([
      ["State", String(device.state || "NEW")],
      ["Failed step", String(device.failed_step || "")],
      ["Result", resultText(device.result)],
      ["Flow", device.kind === "mta" ? String(device.flow || "") : ""],
      ["Address", String(device.ip || "")],
      ["Cable modem", device.cm_mac ? el("a", { href: `#/device/${encodeURIComponent(device.cm_mac)}`,
                                                text: macText(device.cm_mac) }) : ""],
      ["Template", String(device.template || "")],
      ["Updated", device.updated ? `${timeText(device.updated)} (${agoText(device.updated, Date.now() / 1000)})` : ""],
    ]),
    actions(device),
    device.kind === "sip" ? phone(device.phone) : null,
    el("h2", { text: "Timeline" }),
    timeline(device, history),
    el("h2", { text: "Lease" }),
    lease(device.lease),
    el("h2", { text: "Firmware" }),
    firmware(device.firmware),
    el("h2", { text: "Config file" }),
    files(Array.isArray(device.files) ? device.files : []),
    Object.keys(device.vars || {}).length ? [el("h2", { text: "Values" }),
      el("pre", { class: "code", text: JSON.stringify(device.vars, null, 2) })] : null);
}

/** Which history entry the run failed at: the last one at the failed step, else the last failure. */
function failedIndex(device, history) {
  if (device.outcome !== "fail") return -1;
  for (let i = history.length - 1; i >= 0; i--) if (device.failed_step && history[i].step === device.failed_step) return i;
  for (let i = history.length - 1; i >= 0; i--) if (isFailure(history[i].event, history[i].detail)) return i;
  return history.length - 1;
}

function failureLine(device, history) {
  const at = failedIndex(device, history);
  if (at < 0) return null;
  const step = history[at];
  return el("p", { class: "failure", role: "note" },
    el("strong", { text: `Failed at ${device.failed_step || step.step}: ` }), describe(step.event),
    step.detail ? ` (${step.detail})` : "");
}

function timeline(device, history) {
  if (!history.length) return el("p", { class: "note", text: "No step recorded yet." });
  const first = Number(history[0].at) || 0;
  const failed = failedIndex(device, history);
  return el("ol", { class: "timeline", id: "timeline" }, history.map((step, i) => {
    const at = Number(step.at) || 0;
    const bad = i === failed || isFailure(step.event, step.detail);
    return el("li", { class: [bad ? "bad" : "", i === failed ? "failed-here" : ""].join(" ").trim() || undefined },
      el("div", { class: "when" },
        el("time", { text: i === 0 ? timeText(at) : timeText(at).slice(11), title: timeText(at) }),
        el("span", { class: "rel", text: i === 0 ? "start" : `+${spanText(at - first)}` })),
      el("div", { class: "what" },
        el("span", { class: "step", text: String(step.step || "") }),
        el("span", { class: "words", text: describe(step.event) }),
        el("span", { class: "event", text: String(step.event || "") }),
        step.detail ? el("span", { class: "detail", text: String(step.detail) }) : null,
        i === failed ? el("span", { class: "mark", text: "failed here" }) : null));
  }));
}

/** The API's phone.subscription values in words (pktcable/serve/phonestatus.py). */
export const SUBSCRIPTION_WORDS = {
  subscribed: "subscribed",
  expired: "expired: not refreshed in time",
  unreachable: "unreachable: a NOTIFY got no answer, or no change reached it in all its tries",
  ended: "ended: the phone refused a NOTIFY (it no longer has the dialog)",
  unsubscribed: "unsubscribed: the phone ended it",
  none: "none since the server started",
};

function when(seconds, now) {
  return `${timeText(seconds)} (${agoText(seconds, now)})`;
}

function phone(status) {
  if (!status) return null;
  const now = Date.now() / 1000;
  const sub = String(status.subscription || "none");
  const versions = status.served && status.held
    ? (status.in_sync ? "in sync" : "behind: the phone holds another version than the one served")
    : "";
  const notify = status.last_notify;
  const fetch = status.last_fetch;
  return [el("h2", { text: "SIP phone" }),
    el("div", { class: "phone", id: "phone" },
      el("span", { class: `badge sub-${sub}`, id: "subscription", text: sub }),
      facts([
        ["Subscription", SUBSCRIPTION_WORDS[sub] || sub],
        ["Expires", status.expires ? `${timeText(status.expires)} (in ${spanText(status.expires - now)})` : ""],
        ["Profile served", el("code", { id: "served", text: String(status.served || "none: it does not build") })],
        ["Profile held", el("code", { id: "held", text: String(status.held || "not fetched yet") })],
        ["Versions", el("span", { id: "in-sync", text: versions })],
        ["Last told of", el("code", { text: String(status.notified || "") })],
        ["Last NOTIFY", el("span", { id: "last-notify", text: notify
          ? `${when(notify.at, now)}: ${describe(notify.event)}${notify.detail ? ` (${notify.detail})` : ""}` : "none" })],
        ["Last fetch", el("span", { id: "last-fetch", text: fetch ? `${when(fetch.at, now)}: ${fetch.detail}` : "none" })],
        ["Profile problem", status.problem ? el("span", { class: "error", text: String(status.problem) }) : ""],
      ]))];
}

function lease(current) {
  if (!current) return el("p", { class: "note", text: "No current DHCP lease." });
  return facts([
    ["Address", String(current.address || "")],
    ["Expires", current.expires ? `${timeText(current.expires)} (in ${spanText(current.expires - Date.now() / 1000)})` : ""],
    ["Relay (giaddr)", String(current.giaddr || "")],
    ["Circuit ID", String(current.circuit_id || "")],
    ["Remote ID", String(current.remote_id || "")],
  ]);
}

/** The version the device reports against its rule's target, and why it is offered or not. */
function firmware(status) {
  if (!status) return el("p", { class: "note", text: "No firmware status." });
  const history = Array.isArray(status.history) ? status.history : [];
  return [
    facts([
      ["Device", [status.vendor, status.model, status.hw_version ? `hw ${status.hw_version}` : ""]
        .filter(Boolean).map(String).join(" ")],
      ["Current version", el("span", { id: "fw-current", text: String(status.current ?? "not reported") })],
      ["Target version", el("span", { id: "fw-target", text: status.target_version ? String(status.target_version) : "none" })],
      ["Rule", String(status.rule || "")],
      ["Offered now", el("span", { id: "fw-offered", text: status.image ? String(status.image) : "nothing" })],
      ["Why", el("span", { id: "fw-reason", text: String(status.reason || "") })],
      ["Last asked", status.checked ? el("span", { id: "fw-checked" },
        `${timeText(status.checked.at)}: ${describe(status.checked.event)} `,
        el("span", { class: "note", text: String(status.checked.detail || "") })) : "never"],
    ]),
    history.length ? el("ol", { class: "versions", id: "fw-history" }, history.map((seen) =>
      el("li", {}, el("code", { text: String(seen.sw_version) }), " ",
        el("span", { class: "note", text: `${timeText(seen.at)} (${String(seen.source)})` })))) : null,
  ];
}

function files(list) {
  if (!list.length) return el("p", { class: "note", text: "No config file built for this device yet." });
  return list.map((file) => el("div", { class: "file" },
    facts([
      ["Name", String(file.name || "")],
      ["Kind", String(file.kind || "")],
      ["Built", file.built ? timeText(file.built) : ""],
      ["Size", typeof file.size === "number" ? `${countText(file.size)} bytes` : ""],
      ["SHA-1", el("code", { text: String(file.sha1 || "") })],
    ]),
    el("pre", { class: "code file-text", text: String(file.text || "") })));
}

function actions(device) {
  const box = el("div", { class: "actions", id: "actions" });
  // Both act on an eMTA through its SNMP agent; a modem has neither.
  if (ctx.session.role === "operator" && device.kind === "mta") {
    box.append(el("button", { type: "button", id: "reset", onclick: () => act(device, "reset") }, "Reset the eMTA"),
      el("button", { type: "button", id: "reprovision", onclick: () => act(device, "reprovision") }, "Re-provision"));
  }
  if (message) box.append(el("p", { class: message.ok ? "ok" : "error", role: "status", text: message.text }));
  return box.childNodes.length ? box : null;
}

const QUESTIONS = {
  reset: "Reset this eMTA now? It reboots and provisions again.",
  reprovision: "Clear this device's flow state and reset it, so that it provisions anew?",
};

async function act(device, action) {
  if (!window.confirm(`${macText(device.mac)}: ${QUESTIONS[action]}`)) return;
  for (const button of document.querySelectorAll("#actions button")) button.disabled = true;
  try {
    const answer = await post(`/devices/${encodeURIComponent(device.mac)}/${action}`);
    const acked = answer && answer.acknowledged;
    message = acked === false
      ? { ok: false, text: "Sent; the eMTA did not acknowledge the reset." }
      : { ok: true, text: action === "reset" ? "The eMTA acknowledged the reset." : "Re-provisioning started." };
  } catch (exc) {
    const acked = exc instanceof ApiError && exc.body ? exc.body.acknowledged : undefined;
    message = { ok: false, text: acked === false ? "Sent; the eMTA did not acknowledge the reset." : exc.message };
  }
  shown = "";
  await refresh().catch((exc) => ctx.banner(exc.message));
}
