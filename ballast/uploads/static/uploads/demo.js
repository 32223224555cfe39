// The demo page's script (a static file: the Content-Security-Policy allows no inline script).
import { uploadFile } from "./upload-client.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
$("token").value = params.get("token") || localStorage.getItem("ballast-demo-token") || "";
const token = () => $("token").value.trim();
const status = (text, state) => { $("status").textContent = text; $("status").dataset.state = state; };

async function api(method, path, correlationId) {
  const headers = { Authorization: `Bearer ${token()}` };
  if (correlationId) headers["X-Correlation-ID"] = correlationId;
  const response = await fetch(`/api/v1${path}`, { method, headers });
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new Error((body && body.detail) || `HTTP ${response.status}`);
  return body;
}

async function showEvents(correlationId) {
  const page = await api("GET", `/events?correlation_id=${encodeURIComponent(correlationId)}`);
  const lines = page.results.slice().reverse().map((event) => `${event.time}  ${event.type}`);
  $("events").textContent = lines.join("\n") || "—";
  $("events").dataset.types = page.results.map((event) => event.type).join(" ");
}

function render(item, doc, via, correlationId) {
  item.dataset.id = doc.id;
  item.dataset.status = doc.status;
  item.dataset.via = via;
  item.innerHTML = "";
  const title = document.createElement("strong");
  title.textContent = doc.name; // a name is text, never markup
  item.append(title, ` — ${doc.size} bytes, ${doc.content_type}, ${doc.status}, via ${via} `);
  const actions = {
    Download: async () => { const detail = await api("GET", `/documents/${doc.id}`, correlationId);
                            if (detail.download_url) location.href = detail.download_url; },
    Trash: () => api("DELETE", `/documents/${doc.id}`, correlationId),
    Restore: () => api("POST", `/documents/${doc.id}/restore`, correlationId),
    Purge: () => api("POST", `/documents/${doc.id}/purge`, correlationId),
  };
  for (const [label, action] of Object.entries(actions)) {
    const button = document.createElement("button");
    button.textContent = label;
    button.dataset.action = label.toLowerCase();
    button.onclick = async () => {
      try {
        const result = await action();
        if (result && result.id) render(item, result, via, correlationId);
        await showEvents(correlationId);
        status(`${label}: done.`, "done");
      } catch (error) { status(`${label} failed: ${error.message}`, "error"); }
    };
    item.append(button);
  }
}

$("upload").onclick = async () => {
  const file = $("file").files[0];
  if (!file) { status("Choose a file first.", "error"); return; }
  localStorage.setItem("ballast-demo-token", token());
  status("Uploading…", "busy");
  try {
    const result = await uploadFile(file, {
      token: token(),
      mode: $("mode").value,
      onProgress: ({ phase, loaded, total }) => {
        $("progress").value = total ? loaded / total : 1;
        $("status").textContent = `${phase}: ${loaded} of ${total} bytes`;
      },
      beforeDirect: $("tamper").checked
        ? (direct) => { direct.fields.policy = btoa("{}"); return direct; }
        : null,
    });
    const item = document.createElement("li");
    $("documents").prepend(item);
    render(item, result.document, result.via, result.correlationId);
    await showEvents(result.correlationId);
    const fallback = result.fallbackReason ? ` (direct upload failed: ${result.fallbackReason})` : "";
    status(`Uploaded via ${result.via}${fallback}.`, "done");
  } catch (error) {
    status(`Upload failed: ${error.message}`, "error");
  }
};
