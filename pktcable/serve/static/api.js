// The API client: the token lives in this tab's sessionStorage only and goes
// out as a Bearer header; errors are RFC 9457 problem details.

const KEY = "pktcable.token";
const BASE = "/api/v1";

export function token() {
  return sessionStorage.getItem(KEY) || "";
}

export function setToken(value) {
  if (value) sessionStorage.setItem(KEY, value);
  else sessionStorage.removeItem(KEY);
}

/** A failed call: the problem's status, stable code and words. */
export class ApiError extends Error {
  constructor(status, code, title, detail) {
    super(detail || title || `HTTP ${status}`);
    this.status = status;
    this.code = code || "";
    this.title = title || "";
  }
}

let onUnauthorized = () => {};

/** Called when the API refuses the token (401): the page asks for another. */
export function whenUnauthorized(handler) {
  onUnauthorized = handler;
}

/** One call; resolves to the parsed JSON body (null for 204). */
export async function call(method, path, body) {
  const headers = { Accept: "application/json", Authorization: `Bearer ${token()}` };
  const init = { method, headers, cache: "no-store", credentials: "omit" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(BASE + path, init);
  } catch (exc) {
    throw new ApiError(0, "network", "The server cannot be reached", String(exc.message || exc));
  }
  if (response.status === 204) return null;
  let data = null;
  const type = response.headers.get("Content-Type") || "";
  if (type.includes("json")) {
    try {
      data = await response.json();
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const problem = data && typeof data === "object" ? data : {};
    const error = new ApiError(response.status, problem.code, problem.title, problem.detail || problem.error);
    error.body = problem;
    if (response.status === 401) onUnauthorized(error);
    throw error;
  }
  return data;
}

export const get = (path) => call("GET", path);
export const post = (path, body) => call("POST", path, body === undefined ? {} : body);

/** A query string from an object; arrays repeat the key, empty values are left out. */
export function query(params) {
  const out = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    for (const one of Array.isArray(value) ? value : [value]) {
      if (one !== undefined && one !== null && one !== "") out.append(key, String(one));
    }
  }
  const text = out.toString();
  return text ? `?${text}` : "";
}
