// The REST API as the UI uses it: JSON in and out, the stored token sent, errors as exceptions
// carrying the server's own message.

const TOKEN_KEY = "mlops.token";

export class ApiError extends Error {
  constructor(status, type, message) {
    super(message);
    this.status = status;
    this.type = type;
  }
}

export function token() {
  return localStorage.getItem(TOKEN_KEY);
}

export function setToken(value) {
  if (value) localStorage.setItem(TOKEN_KEY, value);
  else localStorage.removeItem(TOKEN_KEY);
}

function headers(extra = {}) {
  const out = { ...extra };
  const t = token();
  if (t) out.Authorization = `Bearer ${t}`;
  return out;
}

async function errorFrom(response) {
  let type = `HTTP ${response.status}`;
  let message = response.statusText || type;
  try {
    const body = await response.json();
    if (body && body.error) {
      type = body.error.type;
      message = body.error.message;
    } else if (body && body.detail) {
      message = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
    }
  } catch {
    // Not JSON (a proxy's page): the status line is all there is.
  }
  return new ApiError(response.status, type, message);
}

// Requests in flight, mirrored on <body data-pending> so tests (and styles) can tell when the
// page has settled; index.html starts it at "boot".
let pending = 0;
export function track(delta) {
  pending += delta;
  document.body.dataset.pending = String(pending);
}

export async function request(method, path, body) {
  const init = { method, headers: headers() };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  track(+1);
  try {
    let response;
    try {
      response = await fetch(`/api/v1${path}`, init);
    } catch (exc) {
      throw new ApiError(0, "NetworkError", `the server did not answer: ${exc.message}`);
    }
    if (!response.ok) throw await errorFrom(response);
    if (response.status === 204) return null;
    return await response.json();
  } finally {
    track(-1);
  }
}

export const get = (path) => request("GET", path);
export const post = (path, body) => request("POST", path, body ?? {});

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null) q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : "";
}

// An artifact's bytes as a Blob (fetched, so the token goes along; <a href> could not send it).
// With `limit`, reading stops after that many bytes and `truncated` says whether it did.
export async function artifactBlob(path, { limit, type } = {}) {
  track(+1);
  try {
    return await readArtifact(path, limit, type);
  } finally {
    track(-1);
  }
}

async function readArtifact(path, limit, type) {
  const encoded = path.split("/").map(encodeURIComponent).join("/");
  const response = await fetch(`/api/v1/artifacts/files/${encoded}`, { headers: headers() });
  if (!response.ok) throw await errorFrom(response);
  if (!limit) return { blob: new Blob([await response.blob()], { type }), truncated: false };
  const reader = response.body.getReader();
  const parts = [];
  let size = 0;
  let truncated = false;
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    size += value.length;
    if (size >= limit) {
      truncated = true;
      await reader.cancel();
      break;
    }
  }
  return { blob: new Blob(parts, { type }).slice(0, limit, type), truncated };
}

// Who the caller is and what they may do. A server without the endpoint has no auth: all allowed.
export async function whoami() {
  try {
    return await get("/auth/whoami");
  } catch (exc) {
    if (exc.status === 404) {
      return { username: null, auth_enabled: false, global_role: "admin", experiments: {}, models: {} };
    }
    throw exc;
  }
}
