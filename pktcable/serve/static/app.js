// The dashboard's entry point: sign-in, who is signed in, and the router
// between the two views (#/ the devices, #/device/<mac> one device).

import { ApiError, get, setToken, token, whenUnauthorized } from "./api.js";
import { $, fill } from "./dom.js";
import * as devices from "./devices.js";
import * as device from "./device.js";

const POLL_MS = 5000;
const session = { name: "", role: "" };
let view = null;
let timer = 0;

function show(id) {
  for (const section of ["signin", "front", "device"]) $(section).hidden = section !== id;
}

function banner(message) {
  const node = $("banner");
  node.textContent = message || "";
  node.hidden = !message;
}

function signIn(message) {
  stopPolling();
  view = null;
  $("who").hidden = true;
  show("signin");
  $("signin-error").textContent = message || "";
  $("token").focus();
}

async function whoami() {
  const me = await get("/whoami");
  session.name = String(me.name ?? "");
  session.role = String(me.role ?? "");
  $("who-name").textContent = session.name;
  $("who-role").textContent = session.role;
  $("who").hidden = false;
  document.body.dataset.role = session.role;
}

/** Which view the address names: {view, mac?, params}. */
function route() {
  const hash = location.hash.replace(/^#/, "");
  const match = /^\/device\/([^/?#]+)/.exec(hash);
  if (match) return { name: "device", mac: decodeURIComponent(match[1]) };
  const at = hash.indexOf("?");
  return { name: "front", params: new URLSearchParams(at >= 0 ? hash.slice(at + 1) : "") };
}

async function render() {
  if (!token()) return signIn();
  banner("");
  const where = route();
  const ctx = { session, banner, navigate, state: history.state || {} };
  try {
    if (!session.role) await whoami();
    if (where.name === "device") {
      show("device");
      view = device;
      await device.open(where.mac, ctx);
    } else {
      show("front");
      view = devices;
      await devices.open(where.params, ctx);
    }
    startPolling();
  } catch (exc) {
    if (exc instanceof ApiError && exc.status === 401) return;  // whenUnauthorized asked for a token
    banner(exc instanceof Error ? exc.message : String(exc));
  }
}

async function poll() {
  if (document.visibilityState !== "visible" || !view) return;
  try {
    await view.refresh();
    banner("");
  } catch (exc) {
    if (!(exc instanceof ApiError && exc.status === 401)) banner(`Live updates paused: ${exc.message}`);
  }
}

function startPolling() {
  stopPolling();
  if (document.visibilityState === "visible") timer = setInterval(poll, POLL_MS);
}

function stopPolling() {
  clearInterval(timer);
  timer = 0;
}

/** Go to a view of this page: a new history entry (so the back button
 * returns), or in place of the current one. */
function navigate(hash, state = {}, replaceEntry = false) {
  if (replaceEntry) history.replaceState(state, "", hash);
  else history.pushState(state, "", hash);
  render();
}

whenUnauthorized(() => {
  setToken("");
  session.name = session.role = "";
  signIn("The API refused the token: it is unknown, revoked or expired.");
});

$("signin-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const value = $("token").value.trim();
  if (!value) return;
  setToken(value);
  $("token").value = "";
  session.role = "";
  render();
});

$("sign-out").addEventListener("click", () => {
  setToken("");
  session.name = session.role = "";
  fill($("rows"));
  signIn("Signed out.");
});

document.addEventListener("visibilitychange", () => {
  // Nothing is fetched while the tab is hidden; back in view, catch up at once.
  if (document.visibilityState === "visible" && view) {
    poll();
    startPolling();
  } else {
    stopPolling();
  }
});

/** `pktcable serve --demo` prints the page's address with a one-run token
 * after #token=: kept like a typed one, then taken out of the address bar and history. */
function tokenFromAddress() {
  const match = /^#token=([^&]+)$/.exec(location.hash);
  if (!match) return;
  setToken(decodeURIComponent(match[1]));
  history.replaceState(null, "", `${location.pathname}#/`);
}

window.addEventListener("popstate", render);
tokenFromAddress();
render();
