// FingerV7 dashboard: talking to the orchestrator (key, errors, clock) and the operator actions.
// Text from the API only ever reaches the page through textContent.

const REQUEST_TIMEOUT_MS = 10000;
const KEY_STORAGE = "fingerv7.orchestratorKey";

export const $ = (id) => document.getElementById(id);
let clockSkewMs = 0;
let refreshSoon = () => {};

export function setText(element, text) {
  const value = String(text);
  if (element.textContent !== value) element.textContent = value;
}

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

// ---- HTTP ------------------------------------------------------------------------------------

export function storedKey() {
  return sessionStorage.getItem(KEY_STORAGE);
}

export async function api(path, method = "GET") {
  const headers = { Accept: "application/json" };
  const key = storedKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  const startedMs = Date.now();
  let response;
  try {
    response = await fetch(new URL(path, document.baseURI), {
      method,
      headers,
      cache: "no-store",
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch {
    throw new ApiError(0, "the orchestrator did not answer");
  }
  noteServerClock(response, startedMs);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, body.detail || `HTTP ${response.status}`);
  return body;
}

// Heartbeat ages compare server timestamps with this browser's clock; correct a clock that is
// clearly off. The Date header has one-second resolution, so smaller differences are ignored.
function noteServerClock(response, startedMs) {
  const serverMs = Date.parse(response.headers.get("date") || "");
  if (Number.isNaN(serverMs)) return;
  const skewMs = serverMs + 500 - (startedMs + Date.now()) / 2;
  clockSkewMs = Math.abs(skewMs) > 2000 ? skewMs : 0;
}

export function serverNowMs() {
  return Date.now() + clockSkewMs;
}

export function parseTimestamp(text) {
  if (!text) return null;
  const zoned = /([zZ]|[+-]\d\d:?\d\d)$/.test(text) ? text : `${text}Z`;
  const ms = Date.parse(zoned);
  return Number.isNaN(ms) ? null : ms;
}

// ---- Messages --------------------------------------------------------------------------------

export function showNotice(text, { offerKey, source }) {
  setText($("notice-text"), text);
  $("notice").dataset.source = source;
  $("notice-key").hidden = !offerKey;
  $("notice").hidden = false;
}

export function hideNotice() {
  $("notice").hidden = true;
}

function showResult(text) {
  setText($("action-result"), text);
}

// ---- Dialogs: the key prompt and the confirmation --------------------------------------------

let pendingKeyPrompt = null;

export function askForKey(reason) {
  if (pendingKeyPrompt) return pendingKeyPrompt;
  const dialog = $("key-dialog");
  setText($("key-reason"), reason);
  $("key-input").value = "";
  pendingKeyPrompt = new Promise((resolve) => {
    dialog.addEventListener(
      "close",
      () => {
        pendingKeyPrompt = null;
        const key = $("key-input").value.trim();
        $("key-input").value = "";
        if (dialog.returnValue === "use" && key) {
          sessionStorage.setItem(KEY_STORAGE, key);
          resolve(key);
        } else {
          resolve(null);
        }
      },
      { once: true },
    );
  });
  dialog.returnValue = "";
  dialog.showModal();
  return pendingKeyPrompt;
}

async function changeKey() {
  const key = await askForKey(
    "Enter ORCHESTRATOR_ADMIN_KEY for operator actions (the API key is enough to read).",
  );
  if (key !== null) {
    hideNotice();
    refreshSoon();
  }
}

function confirmAction(text, confirmLabel) {
  const dialog = $("confirm-dialog");
  setText($("confirm-text"), text);
  setText($("confirm-yes"), confirmLabel);
  dialog.returnValue = "";
  return new Promise((resolve) => {
    const settle = () => resolve(dialog.returnValue === "confirm");
    dialog.addEventListener("close", settle, { once: true });
    dialog.showModal();
  });
}

// ---- Operator actions ------------------------------------------------------------------------

async function callWithKey(method, path) {
  try {
    return await api(path, method);
  } catch (error) {
    // Ask once when no key is known yet; a refused key is reported, not silently re-asked.
    if (!(error instanceof ApiError) || error.status !== 401 || storedKey()) throw error;
    const key = await askForKey("Operator actions need ORCHESTRATOR_ADMIN_KEY.");
    if (key === null) throw error;
    return api(path, method);
  }
}

async function act(method, path, button) {
  showResult("Working…");
  button.disabled = true; // one request per click, however impatient
  try {
    const body = await callWithKey(method, path);
    hideNotice();
    showResult(body.detail || "Done.");
    refreshSoon();
  } catch (error) {
    showResult("");
    const refused = error instanceof ApiError && (error.status === 401 || error.status === 403);
    showNotice(`Refused: ${error.message}`, { offerKey: refused, source: "action" });
  } finally {
    button.disabled = false;
  }
}

async function onCardClick(event) {
  const button = event.target.closest("button");
  const card = button?.closest(".card");
  if (!card) return;
  const id = card.dataset.instanceId;
  const path = `instances/${encodeURIComponent(id)}`;
  if (button.classList.contains("drain")) {
    await act(button.dataset.draining === "true" ? "DELETE" : "POST", `${path}/drain`, button);
  } else if (button.classList.contains("deregister")) {
    const sure = await confirmAction(
      `Deregister ${id}? Its streams go to other instances at once. ` +
        "Stop its worker first, or it registers again.",
      `Deregister ${id}`,
    );
    if (sure) await act("DELETE", path, button);
  }
}

/** Wire the buttons; `refresh` asks for a poll now (after an action or a new key). */
export function installOperatorActions(refresh) {
  refreshSoon = refresh;
  $("notice-close").addEventListener("click", hideNotice);
  $("notice-key").addEventListener("click", () => changeKey());
  $("change-key").addEventListener("click", () => changeKey());
  $("key-cancel").addEventListener("click", () => $("key-dialog").close("cancel"));
  $("instances").addEventListener("click", onCardClick);
  $("rebalance").addEventListener("click", (event) => {
    act("POST", "rebalance", event.currentTarget);
  });
}
