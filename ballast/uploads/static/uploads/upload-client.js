// Ballast's browser upload client: an ES module, no build step.
//
//   import { uploadFile } from "/static/uploads/upload-client.js";
//   const { document, via } = await uploadFile(file, { token, onProgress: (p) => console.log(p) });
//
// 1. POST /api/v1/uploads declares the file (name, type, size, SHA-256) and gets a signed direct-upload
//    target (S3's presigned POST, or the app's local equivalent) and the relay URL.
// 2. The file goes straight to storage as multipart/form-data. When that fails (a network error, a 4xx from
//    storage, a CORS refusal), the same bytes go through the app's streaming relay (PUT .../content).
// 3. POST .../finalize verifies what storage holds and returns the document.

const CHECKSUM_LIMIT = 64 * 1024 * 1024; // hashing reads the whole file into memory: only below this size

export class UploadError extends Error {
  constructor(message, { status = 0, problem = null } = {}) {
    super(message);
    this.name = "UploadError";
    this.status = status; // 0: the request never got an answer
    this.problem = problem; // the API's problem details, when it sent some
  }
}

export async function sha256Hex(blob) {
  const digest = await crypto.subtle.digest("SHA-256", await blob.arrayBuffer());
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

function newCorrelationId() {
  return crypto.randomUUID().replaceAll("-", "");
}

// XMLHttpRequest, not fetch: only XHR reports upload progress.
function send(method, url, { headers = {}, body = null, onProgress = null } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
    if (onProgress) {
      xhr.upload.onprogress = (event) => onProgress(event.loaded, event.lengthComputable ? event.total : null);
    }
    xhr.onload = () => resolve({ status: xhr.status, text: xhr.responseText });
    xhr.onerror = () => reject(new UploadError(`${method} ${url} failed: network error or refused by CORS`));
    xhr.ontimeout = () => reject(new UploadError(`${method} ${url} timed out`));
    xhr.onabort = () => reject(new UploadError(`${method} ${url} was aborted`));
    xhr.send(body);
  });
}

function problemOf(response) {
  try {
    return JSON.parse(response.text);
  } catch {
    return null;
  }
}

function refused(what, response) {
  const problem = problemOf(response);
  const detail = problem && problem.detail ? problem.detail : `HTTP ${response.status}`;
  return new UploadError(`${what}: ${detail}`, { status: response.status, problem });
}

async function callApi(method, url, headers, payload) {
  const response = await send(method, url, {
    headers: payload === undefined ? headers : { ...headers, "Content-Type": "application/json" },
    body: payload === undefined ? null : JSON.stringify(payload),
  });
  if (response.status < 200 || response.status >= 300) throw refused(`${method} ${url}`, response);
  return JSON.parse(response.text);
}

/**
 * Upload one File (or Blob with a name) and return {document, via, uploadId, fallbackReason, correlationId}.
 * options: token (API token, required), apiBase ("/api/v1"), mode ("auto" | "direct" | "relay"),
 * checksum (default: files up to 64 MiB), correlationId, onProgress({phase, loaded, total}),
 * beforeDirect(direct) (may adjust the direct target before it is used).
 */
export async function uploadFile(file, options = {}) {
  const { token, apiBase = "/api/v1", mode = "auto", onProgress = () => {}, beforeDirect = null } = options;
  if (!token) throw new UploadError("An API token is required");
  const correlationId = options.correlationId || newCorrelationId();
  const checksum = options.checksum ?? file.size <= CHECKSUM_LIMIT;
  const headers = { Authorization: `Bearer ${token}`, "X-Correlation-ID": correlationId };
  const contentType = file.type || "application/octet-stream";
  const total = file.size;

  const declaration = { filename: file.name || "upload", content_type: contentType, size: file.size, mode };
  if (checksum) {
    onProgress({ phase: "checksum", loaded: 0, total });
    declaration.sha256 = await sha256Hex(file);
  }
  const created = await callApi("POST", `${apiBase}/uploads`, headers, declaration);

  let via = null;
  let fallbackReason = null;
  if (created.direct) {
    const direct = beforeDirect ? (await beforeDirect(structuredClone(created.direct))) || created.direct : created.direct;
    const form = new FormData();
    for (const [name, value] of Object.entries(direct.fields)) form.append(name, value);
    form.append("file", file); // last: storage ignores what follows the file
    try {
      const response = await send("POST", direct.url, {
        body: form,
        onProgress: (loaded) => onProgress({ phase: "direct", loaded: Math.min(loaded, total), total }),
      });
      if (response.status >= 200 && response.status < 300) via = "direct";
      else fallbackReason = `storage answered ${response.status}`;
    } catch (error) {
      fallbackReason = error.message;
    }
  }
  if (via === null) {
    const response = await send("PUT", created.relay.url, {
      headers: { ...headers, "Content-Type": contentType },
      body: file,
      onProgress: (loaded) => onProgress({ phase: "relay", loaded, total }),
    });
    if (response.status < 200 || response.status >= 300) throw refused("The relay refused the file", response);
    via = "relay";
  }
  onProgress({ phase: "finalize", loaded: total, total });
  const finalized = await callApi("POST", created.finalize.url, headers);
  onProgress({ phase: "done", loaded: total, total });
  return { document: finalized.document, via, uploadId: created.id, fallbackReason, correlationId };
}
