// The front page: counts by state (failures first, each a link that filters
// the table), and the device table with search, filters, sort and cursor
// paging. The view lives in the address (#/?state=FAILED_SET&kind=mta...), so
// it can be linked and the back button returns to the previous one. Live
// updates ask only for what changed since the last answer and merge it into
// the rows on screen; the page is never reloaded wholesale.

import { get, query } from "./api.js";
import { $, agoText, countText, el, fill, macText, timeText } from "./dom.js";

const LIMIT = 100;
const CHANGES_LIMIT = 500;  // rows per poll; a storm is caught up over a few polls
const FORM = ["q", "kind", "flow", "state", "outcome"];
const OTHER = { failed_step: "failed step", mac: "MAC prefix", address: "address", updated_since: "updated since" };
const SORTS = ["mac", "kind", "ip", "state", "updated"];
const OUTCOME_WORDS = { fail: "failing", pass: "passed", pending: "pending", new: "new" };

let ctx = null;
let params = new URLSearchParams();
let rows = new Map();  // MAC -> the <tr> showing it
let shown = new Map();  // MAC -> the row's data as drawn (JSON), to redraw only what changed
let lastSeen = 0;  // the server's time of the newest change merged in
let serverNow = 0;
let unseen = new Set();  // MACs that changed, match the view, and are not on screen
let knownStates = new Set();

const kindWord = (kind) => (kind === "mta" ? "eMTA" : kind === "cm" ? "CM" : kind === "sip" ? "SIP phone" : String(kind || "?"));

/** The address of the front page with these parameters. */
export function viewHash(values) {
  const out = new URLSearchParams();
  for (const [key, value] of values) if (value) out.append(key, value);
  const text = out.toString();
  return text ? `#/?${text}` : "#/";
}

function withChanges(changes, keepCursor = false) {
  const next = new URLSearchParams(params);
  if (!keepCursor) next.delete("cursor");
  for (const [key, value] of Object.entries(changes)) {
    next.delete(key);
    for (const one of Array.isArray(value) ? value : [value]) if (one) next.append(key, one);
  }
  return viewHash(next);
}

function listQuery(cursor) {
  const out = {};
  for (const key of [...FORM, ...Object.keys(OTHER)]) {
    const values = params.getAll(key).filter(Boolean);
    if (values.length) out[key] = key === "state" ? values : values[0];
  }
  const sort = params.get("sort") || "mac";
  out.sort = SORTS.includes(sort.replace(/^-/, "")) ? sort : "mac";
  out.limit = LIMIT;
  if (cursor) out.cursor = cursor;
  return query(out);
}

let generation = 0;  // the latest open(): an older one still in flight must not draw over it

export async function open(viewParams, context) {
  const mine = ++generation;
  ctx = context;
  params = viewParams;
  syncForm();
  const [summary, page] = await Promise.all([get("/summary"), get("/devices" + listQuery(params.get("cursor")))]);
  if (mine !== generation) return;
  renderSummary(summary);
  renderTable(page);
  lastSeen = serverNow = Number(summary.generated) || Date.now() / 1000;
  unseen = new Set();
  renderLive();
  if (!performance.getEntriesByName("pktcable:table-rendered").length) performance.mark("pktcable:table-rendered");
  sessionStorage.setItem("pktcable.lastView", location.hash || "#/");  // the device page's way back
  document.body.dataset.view = "front";
  document.body.dataset.loaded = location.hash || "#/";  // which view is on screen (tests wait for it)
}

// -- counts by state ---------------------------------------------------------------

function stateLink(entry) {
  const state = String(entry.state || "");
  const filter = state && state !== "NEW" ? { kind: entry.kind, state } : { kind: entry.kind, outcome: "new" };
  return viewHash(Object.entries(filter));
}

function renderSummary(summary) {
  const list = $("summary");
  const states = Array.isArray(summary.states) ? summary.states : [];
  const current = viewHash(new URLSearchParams(
    [["kind", params.get("kind")], ["state", params.get("state")], ["outcome", params.get("outcome")]]
      .filter(([, v]) => v)));
  fill(list, el("li", { class: "total" },
    el("a", { href: "#/" }, el("strong", { text: countText(summary.total) }), " devices")));
  for (const entry of states) {
    const failing = entry.outcome === "fail";
    const href = stateLink(entry);
    list.append(el("li", { class: `state outcome-${entry.outcome || "new"}` },
      el("a", { href, "aria-current": href === current ? "true" : undefined,
                dataset: { kind: String(entry.kind), state: String(entry.state || "NEW") } },
        failing ? el("span", { class: "mark", text: "failing", title: "These devices failed provisioning" }) : null,
        el("strong", { class: "count", text: countText(entry.count) }),
        el("span", { class: "what", text: `${kindWord(entry.kind)} ${entry.state || "NEW"}` }),
        entry.failed_step ? el("span", { class: "step", text: `at ${entry.failed_step}` }) : null)));
    if (entry.state) knownStates.add(String(entry.state));
  }
  const select = $("f-state");
  const chosen = params.get("state") || "";
  if (chosen) knownStates.add(chosen);
  const names = [...knownStates].sort();
  const have = [...select.options].slice(1).map((o) => o.value);
  if (have.join() !== names.join()) {
    fill(select, el("option", { value: "", text: "any state" }), names.map((n) => el("option", { value: n, text: n })));
  }
  select.value = chosen;
}

// -- the table ---------------------------------------------------------------------

function cell(label, ...children) {
  return el("td", { dataset: { label } }, ...children);
}

function rowCells(item) {
  const outcome = String(item.outcome || "new");
  return [
    cell("MAC", el("a", { href: `#/device/${encodeURIComponent(item.mac)}`, class: "mac", text: macText(item.mac) })),
    cell("Kind", kindWord(item.kind)),
    cell("Flow", item.kind === "mta" ? String(item.flow || "") : ""),
    cell("Address", String(item.ip || "")),
    cell("State", el("span", { class: "state-name", text: String(item.state || "NEW") })),
    cell("Outcome", el("span", { class: `badge outcome-${outcome}`, text: OUTCOME_WORDS[outcome] || outcome })),
    cell("Failed step", String(item.failed_step || "")),
    cell("Updated", el("span", { class: "ago", title: timeText(item.updated), dataset: { at: String(item.updated) },
                                 text: agoText(item.updated, serverNow || Date.now() / 1000) })),
  ];
}

function makeRow(item) {
  const tr = el("tr", { dataset: { mac: String(item.mac) } }, rowCells(item));
  if (item.outcome === "fail") tr.classList.add("failing");
  return tr;
}

function renderTable(page) {
  const items = Array.isArray(page.items) ? page.items : [];
  rows = new Map();
  shown = new Map(items.map((item) => [item.mac, JSON.stringify(item)]));
  const body = $("rows");
  if (!items.length) {
    fill(body, el("tr", { class: "empty" }, el("td", { colspan: 8, text: "No device matches this view." })));
  } else {
    fill(body, items.map((item) => {
      const tr = makeRow(item);
      rows.set(item.mac, tr);
      return tr;
    }));
  }
  const state = ctx.state || {};
  const prev = Array.isArray(state.prev) ? state.prev : params.get("cursor") ? [""] : [];
  const offset = Number(state.offset) || 0;
  const total = Number(page.total);
  $("range").textContent = items.length
    ? `${countText(offset + 1)}–${countText(offset + items.length)} of ${countText(total)}`
    : `0 of ${countText(total)}`;
  const prevButton = $("prev");
  const nextButton = $("next");
  prevButton.disabled = !prev.length;
  nextButton.disabled = !page.next;
  prevButton.onclick = () => {
    const back = prev.slice(0, -1);
    ctx.navigate(withChanges({ cursor: prev[prev.length - 1] }, true),
                 { prev: back, offset: Math.max(0, offset - LIMIT) });
  };
  nextButton.onclick = () => {
    ctx.navigate(withChanges({ cursor: page.next }, true),
                 { prev: [...prev, params.get("cursor") || ""], offset: offset + items.length });
  };
  const sort = params.get("sort") || "mac";
  for (const button of document.querySelectorAll("#devices th button[data-sort]")) {
    const key = button.dataset.sort;
    const th = button.parentElement;
    th.setAttribute("aria-sort", sort === key ? "ascending" : sort === `-${key}` ? "descending" : "none");
  }
  const others = Object.entries(OTHER).filter(([key]) => params.get(key))
    .map(([key, words]) => `${words} ${params.get(key)}`);
  $("filter-note").textContent = others.length ? `Also filtered by ${others.join(", ")}.` : "";
}

// -- live updates ------------------------------------------------------------------

function matches(item) {
  const has = (key) => params.get(key) || "";
  if (has("kind") && item.kind !== has("kind")) return false;
  if (has("flow") && item.flow !== has("flow")) return false;
  const states = params.getAll("state").filter(Boolean);
  if (states.length && !states.includes(item.state)) return false;
  if (has("outcome") && item.outcome !== has("outcome")) return false;
  if (has("failed_step") && item.failed_step !== has("failed_step")) return false;
  const hex = (text) => String(text).toLowerCase().replace(/[^0-9a-f]/g, "");
  if (has("mac") && !String(item.mac).startsWith(hex(has("mac")))) return false;
  if (has("address")) {
    const want = has("address");
    if (!(item.ip === want || (want.endsWith(".") && String(item.ip).startsWith(want)))) return false;
  }
  const q = has("q").trim().toLowerCase();
  if (q) {
    const text = [item.mac, item.ip, item.state].join(" ").toLowerCase();
    if (!text.includes(q) && !(hex(q) && String(item.mac).includes(hex(q)))) return false;
  }
  return true;
}

function renderLive() {
  const note = $("live");
  const words = [`Live · as of ${timeText(serverNow).slice(11)}`];
  fill(note, words);
  if (unseen.size) {
    note.append(" · ", el("a", { href: "#", id: "show-changes", onclick: (event) => {
      event.preventDefault();
      ctx.navigate(withChanges({}), {});
    }, text: `${countText(unseen.size)} more changed devices match this view: show them` }));
  }
  for (const span of document.querySelectorAll("#rows .ago")) {
    span.textContent = agoText(Number(span.dataset.at), serverNow);
  }
}

/** One poll: new counts, and the rows that changed since the last one. */
export async function refresh() {
  const mine = generation;
  const [summary, changes] = await Promise.all([
    get("/summary"),
    get("/devices" + query({ sort: "updated", updated_since: lastSeen, limit: CHANGES_LIMIT })),
  ]);
  if (mine !== generation) return;
  serverNow = Math.max(serverNow, Number(summary.generated) || 0);
  renderSummary(summary);
  for (const item of Array.isArray(changes.items) ? changes.items : []) {
    lastSeen = Math.max(lastSeen, Number(item.updated) || 0);
    const tr = rows.get(item.mac);
    const data = JSON.stringify(item);
    if (tr && shown.get(item.mac) === data) continue;  // the API's updated_since is inclusive: seen already
    if (tr) {
      shown.set(item.mac, data);
      tr.replaceChildren(...rowCells(item));
      tr.classList.toggle("failing", item.outcome === "fail");
      tr.classList.toggle("stale", !matches(item));
      tr.title = matches(item) ? "" : "Changed: no longer matches this view";
      tr.classList.remove("changed");
      void tr.offsetWidth;  // restart the highlight
      tr.classList.add("changed");
    } else if (matches(item)) {
      unseen.add(item.mac);
    }
  }
  renderLive();
}

// -- the filter form ----------------------------------------------------------------

function syncForm() {
  // The search box is left alone while the view it asked for loads (the typist may be ahead of it).
  if (!(document.activeElement === $("q") && typedView === location.hash)) $("q").value = params.get("q") || "";
  $("f-kind").value = params.get("kind") || "";
  $("f-flow").value = params.get("flow") || "";
  $("f-outcome").value = params.get("outcome") || "";
  const state = params.get("state") || "";
  if (state && ![...$("f-state").options].some((o) => o.value === state)) {
    $("f-state").append(el("option", { value: state, text: state }));
  }
  $("f-state").value = state;
  $("f-sort").value = params.get("sort") || "mac";
}

function formValues() {
  return Object.fromEntries(FORM.map((key) => [key, $(key === "q" ? "q" : `f-${key}`).value.trim()]));
}

let typing = 0;
let typedView = "";  // the view the last pause in typing asked for

function apply(typed) {
  clearTimeout(typing);
  const hash = withChanges(formValues());
  if (hash === (location.hash || "#/")) return;
  // The first pause in typing makes a new history entry; later ones refine it.
  typedView = typed ? hash : "";
  ctx.navigate(hash, { typed }, typed && Boolean(history.state && history.state.typed));
}

$("filters").addEventListener("submit", (event) => {
  event.preventDefault();
  apply(false);
});
for (const id of ["f-kind", "f-flow", "f-state", "f-outcome"]) $(id).addEventListener("change", () => apply(false));
$("q").addEventListener("input", () => {
  clearTimeout(typing);
  typing = setTimeout(() => apply(true), 400);
});
$("f-sort").addEventListener("change", () => {
  const sort = $("f-sort").value;
  ctx.navigate(withChanges({ sort: sort === "mac" ? "" : sort }), {});
});
for (const button of document.querySelectorAll("#devices th button[data-sort]")) {
  button.addEventListener("click", () => {
    const key = button.dataset.sort;
    const sort = params.get("sort") || "mac";
    const next = sort === key ? `-${key}` : sort === `-${key}` ? key : key === "updated" ? "-updated" : key;
    ctx.navigate(withChanges({ sort: next === "mac" ? "" : next }), {});
  });
}
