// Small DOM helpers. Every value from the API goes into the page through
// textContent (never as markup), so a device name such as
// "<img src=x onerror=...>" is shown as the text it is.

/** An element with attributes and children (strings become text nodes). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

export function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Replace a node's children. */
export function fill(node, ...children) {
  node.replaceChildren();
  return append(node, children);
}

export function $(id) {
  return document.getElementById(id);
}

/** A MAC as operators read it: 00:11:22:33:44:aa. */
export function macText(mac) {
  return /^[0-9a-f]{12}$/.test(mac) ? mac.match(/../g).join(":") : String(mac);
}

const pad = (n, w = 2) => String(n).padStart(w, "0");

/** Unix seconds as local date and time, to the second. */
export function timeText(seconds) {
  if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds <= 0) return "—";
  const d = new Date(seconds * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** A duration in seconds, short: 40 ms, 2.4 s, 12 s, 3 min 5 s, 2 h 10 min, 3 d 4 h. */
export function spanText(seconds) {
  const s = Math.abs(seconds);
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.round((s % 86400) / 3600)} h`;
}

/** How long ago ``seconds`` was, against the server's clock when known. */
export function agoText(seconds, now) {
  if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds <= 0) return "—";
  const delta = now - seconds;
  return delta < 1 ? "just now" : `${spanText(delta)} ago`;
}

export function countText(n) {
  return typeof n === "number" ? n.toLocaleString("en-US") : "—";
}
