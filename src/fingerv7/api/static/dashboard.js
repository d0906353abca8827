// FingerV7 dashboard: polls the orchestrator's JSON API and updates the page in place.
// No framework and no build step. Text from the API only ever goes through textContent.
import {
  $,
  ApiError,
  api,
  askForKey,
  hideNotice,
  installOperatorActions,
  parseTimestamp,
  serverNowMs,
  setText,
  showNotice,
  storedKey,
} from "./operator.js";

const POLL_INTERVAL_MS = 2000;
const MAX_CHANGES_SHOWN = 50;
const IDENTIFICATIONS_SHOWN = 20;
const MAX_IDS_SHOWN = 12;
const STATES = ["registered", "active", "warning", "inactive", "recovering"];

const view = {
  instances: [],
  distribution: [],
  unassignedIds: [],
  lastSuccessMs: null,
  changesSignature: "",
  keyDeclined: false,
};
let pollTimer = null;
let pollInFlight = false;

// ---- Polling ---------------------------------------------------------------------------------

function schedulePoll(delayMs) {
  clearTimeout(pollTimer);
  pollTimer = document.hidden ? null : setTimeout(poll, delayMs);
}

async function poll() {
  if (pollInFlight) return;
  pollInFlight = true;
  try {
    const [fleet, streams, plays] = await Promise.all([
      api("instances"),
      api("streams/status"),
      api(`identifications/recent?limit=${IDENTIFICATIONS_SHOWN}`).catch(() => null),
    ]);
    view.lastSuccessMs = Date.now();
    setConnection("live");
    if ($("notice").dataset.source === "poll") hideNotice();
    render(fleet, streams);
    if (plays) renderIdentifications(plays);
  } catch (error) {
    handlePollError(error);
  } finally {
    pollInFlight = false;
    schedulePoll(POLL_INTERVAL_MS);
  }
}

function handlePollError(error) {
  if (!(error instanceof ApiError) || error.status === 0 || error.status >= 500) {
    setConnection("lost");
    return;
  }
  if (error.status === 401 || error.status === 403) {
    setConnection("auth");
    showNotice(error.message, { offerKey: true, source: "poll" });
    if (error.status === 401 && !storedKey() && !view.keyDeclined) {
      // Not awaited: polling goes on (and keeps the indicator honest) while the prompt is open.
      askForKey("Reading the fleet needs ORCHESTRATOR_API_KEY or the admin key.").then((key) => {
        if (key === null) view.keyDeclined = true;
        else schedulePoll(0);
      });
    }
    return;
  }
  showNotice(error.message, { offerKey: false, source: "poll" });
}

function setConnection(state) {
  const labels = {
    connecting: "Connecting…",
    live: "Live",
    lost: "Connection lost, retrying",
    auth: "Needs a key",
    paused: "Paused while the tab is hidden",
  };
  const element = $("connection-state");
  if (element.textContent !== labels[state]) element.textContent = labels[state];
  $("connection").dataset.state = state;
  tickClock();
}

document.addEventListener("visibilitychange", () => {
  if (document.hidden) {
    clearTimeout(pollTimer);
    setConnection("paused");
  } else {
    schedulePoll(0);
  }
});

// ---- Rendering -------------------------------------------------------------------------------

// One time zone, labelled, everywhere: the orchestrator's TZ (music_log's date/time are in it).
function setTimeZone(zone) {
  if (!zone || zone === view.timeZone) return;
  view.timeZone = zone;
  view.timeFormat = new Intl.DateTimeFormat("sv-SE", {
    timeZone: zone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hour12: false,
  });
  view.changesSignature = "";
  for (const id of ["changes-when", "identifications-when"]) $(id).textContent = `When (${zone})`;
}

function formatMoment(ms) {
  return view.timeFormat ? view.timeFormat.format(new Date(ms)) : new Date(ms).toISOString();
}

function render(fleet, streams) {
  setTimeZone(streams.time_zone);
  view.instances = fleet.instances;
  view.distribution = streams.distribution;
  view.unassignedIds = streams.unassigned_stream_ids;
  renderTotals(fleet.summary, streams.streams);
  renderStateCounts(fleet.instances);
  renderCards(fleet.instances);
  renderDistribution();
  renderChanges(streams.recent_changes);
  renderStreamHealth(streams);
  applyFilter();
  tickClock();
}

function renderTotals(summary, streams) {
  const values = {
    capacity: summary.total_capacity,
    assigned: streams.assigned,
    unassigned: streams.unassigned,
    in_handoff: streams.in_handoff,
    imbalance: `${(100 * summary.system_imbalance).toFixed(1)} %`,
    average_load: `${summary.average_load.toFixed(1)} %`,
  };
  for (const element of document.querySelectorAll("[data-total]")) {
    setText(element, values[element.dataset.total]);
  }
  const unassigned = document.querySelector('[data-total="unassigned"]');
  unassigned.classList.toggle("warn", streams.unassigned > 0);
}

function renderStateCounts(instances) {
  const counts = Object.fromEntries(STATES.map((s) => [s, 0]));
  for (const instance of instances) counts[instance.status] = (counts[instance.status] || 0) + 1;
  const draining = instances.filter((i) => i.draining).length;
  const items = [...STATES.map((s) => [s, counts[s]]), ["draining", draining]];
  const list = $("state-counts");
  list.replaceChildren(
    ...items.map(([state, count]) => {
      const item = document.createElement("li");
      item.className = `badge ${state}`;
      item.dataset.state = state;
      item.textContent = `${state} ${count}`;
      return item;
    }),
  );
}

function renderCards(instances) {
  const list = $("instances");
  const existing = new Map([...list.children].map((card) => [card.dataset.instanceId, card]));
  instances.forEach((instance, index) => {
    let card = existing.get(instance.id);
    if (!card) card = createCard(instance.id);
    existing.delete(instance.id);
    updateCard(card, instance);
    if (list.children[index] !== card) list.insertBefore(card, list.children[index] || null);
  });
  for (const stale of existing.values()) stale.remove();
  $("instances-empty").hidden = instances.length > 0;
}

function createCard(instanceId) {
  const card = $("card-template").content.firstElementChild.cloneNode(true);
  card.dataset.instanceId = instanceId;
  const headingId = `instance-${instanceId}`;
  card.querySelector(".instance-id").id = headingId;
  card.setAttribute("aria-labelledby", headingId);
  card.querySelector(".instance-id").textContent = instanceId;
  card.querySelector(".bar").setAttribute("aria-label", `Load of ${instanceId}`);
  card.querySelector(".deregister").setAttribute("aria-label", `Deregister ${instanceId}`);
  return card;
}

function withHost(own, host) {
  if (own === null || own === undefined) return formatPercent(host);
  return `${formatPercent(own)} (host ${formatPercent(host)})`;
}

// A worker that logs no plays (or predates the field) sends no backlog: "–".
function describeBacklog(backlog) {
  if (!backlog) return "–";
  if (!backlog.plays_buffered) return "0";
  const oldest = formatDuration(1000 * backlog.oldest_age_seconds);
  const outage = backlog.unavailable ? ", music_log unavailable" : "";
  return `${backlog.plays_buffered} (oldest ${oldest}${outage})`;
}

function formatPercent(value) {
  return value === null || value === undefined ? "–" : `${Number(value).toFixed(0)} %`;
}

function updateCard(card, instance) {
  const part = (selector) => card.querySelector(selector);
  card.dataset.state = instance.status;
  const badge = part(".state");
  badge.className = `badge state ${instance.status}`;
  setText(badge, instance.status);
  part(".draining").hidden = !instance.draining;
  const bar = part(".bar");
  bar.setAttribute("aria-valuemax", instance.max_streams);
  bar.setAttribute("aria-valuenow", instance.current_streams);
  const percent = Math.min(100, instance.load_percentage);
  part(".fill").style.width = `${percent}%`;
  bar.dataset.level = percent >= 90 ? "high" : percent >= 70 ? "medium" : "low";
  setText(part(".load-text"), `${instance.current_streams}/${instance.max_streams} streams`);
  part(".heartbeat").dataset.timestamp = instance.last_heartbeat || "";
  setText(part(".version"), instance.version || "–");
  setText(part(".location"), instance.location || "–");
  // The worker's own share first; the whole host's after it (a neighbour may be the busy one).
  setText(part(".cpu"), withHost(instance.process_cpu_usage, instance.cpu_usage));
  setText(part(".memory"), withHost(instance.process_memory_usage, instance.memory_usage));
  setText(part(".processed"), instance.processed_total.toLocaleString());
  setText(part(".errors"), instance.errors_total.toLocaleString());
  part(".errors").classList.toggle("warn", instance.errors_total > 0);
  setText(part(".plays-buffered"), describeBacklog(instance.play_log));
  part(".plays-buffered").classList.toggle("warn", (instance.play_log?.plays_buffered ?? 0) > 0);
  const drain = part(".drain");
  drain.dataset.draining = instance.draining ? "true" : "false";
  setText(drain, instance.draining ? "Undrain" : "Drain");
  drain.setAttribute("aria-label", `${instance.draining ? "Undrain" : "Drain"} ${instance.id}`);
}

function renderDistribution() {
  const list = $("distribution");
  const byId = new Map(view.instances.map((i) => [i.id, i]));
  const existing = new Map([...list.children].map((item) => [item.dataset.instanceId, item]));
  const largest = Math.max(1, ...view.distribution.map((d) => d.assigned_streams));
  view.distribution.forEach((entry, index) => {
    let item = existing.get(entry.instance_id);
    if (!item) item = createDistributionItem(entry.instance_id);
    existing.delete(entry.instance_id);
    const capacity = byId.get(entry.instance_id)?.max_streams;
    const count = entry.assigned_streams;
    setText(item.querySelector(".count"), capacity ? `${count} of ${capacity}` : `${count}`);
    const scale = capacity || largest;
    item.querySelector(".fill").style.width = `${Math.min(100, (100 * count) / scale)}%`;
    setText(item.querySelector(".ids"), entry.stream_ids.join(", ") || "none");
    if (list.children[index] !== item) list.insertBefore(item, list.children[index] || null);
  });
  for (const stale of existing.values()) stale.remove();
  const unassigned = view.unassignedIds;
  setText(
    $("unassigned-list"),
    unassigned.length
      ? `Unassigned: ${abbreviateIds(unassigned, 50)}`
      : "Every stream has an instance.",
  );
}

function createDistributionItem(instanceId) {
  const item = document.createElement("li");
  item.dataset.instanceId = instanceId;
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = instanceId;
  const count = document.createElement("span");
  count.className = "count";
  const bar = document.createElement("span");
  bar.className = "bar";
  bar.setAttribute("aria-hidden", "true");
  const fill = document.createElement("span");
  fill.className = "fill";
  bar.append(fill);
  const details = document.createElement("details");
  const summary = document.createElement("summary");
  summary.textContent = "Stream ids";
  const ids = document.createElement("p");
  ids.className = "ids";
  details.append(summary, ids);
  item.append(name, count, bar, details);
  return item;
}

function abbreviateIds(ids, limit = MAX_IDS_SHOWN) {
  const shown = ids.slice(0, limit).join(", ");
  return ids.length > limit ? `${shown} … (+${ids.length - limit})` : shown;
}

function renderChanges(changes) {
  const shown = changes.slice(0, MAX_CHANGES_SHOWN);
  const signature = JSON.stringify(shown);
  $("changes-empty").hidden = shown.length > 0;
  if (signature === view.changesSignature) return;
  view.changesSignature = signature;
  $("changes").replaceChildren(
    ...shown.map((change) => {
      const row = document.createElement("tr");
      const when = parseTimestamp(change.timestamp);
      const cells = [
        when === null ? "–" : formatMoment(when),
        change.details,
        change.reason,
        abbreviateIds(change.stream_ids),
      ];
      for (const text of cells) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.append(cell);
      }
      row.children[2].className = "reason";
      return row;
    }),
  );
}

// Problem streams first: what is down, for how long, and who holds it (issue 11).
function renderStreamHealth(streams) {
  const counts = streams.health ?? {};
  $("health-counts").replaceChildren(
    ...Object.entries(counts).map(([state, count]) => {
      const item = document.createElement("li");
      item.dataset.health = state;
      item.textContent = `${state} ${count}`;
      return item;
    }),
  );
  const problems = Object.entries(streams.instance_problems ?? {});
  $("worker-problems").replaceChildren(
    ...problems.map(([instanceId, info]) => {
      const item = document.createElement("li");
      item.textContent = `${instanceId} (${info.processor ?? "?"}): ${info.problems.join("; ")}`;
      return item;
    }),
  );
  const rows = streams.problem_streams ?? [];
  $("problems-empty").hidden = rows.length > 0;
  $("problem-table").hidden = rows.length === 0;
  const signature = JSON.stringify(rows.map((p) => [p.id, p.state, p.since, p.instance_id, p.reason]));
  if (signature === view.problemsSignature) return;
  view.problemsSignature = signature;
  $("problem-streams").replaceChildren(
    ...rows.map((problem) => {
      const row = document.createElement("tr");
      row.dataset.streamId = String(problem.id);
      const cells = [
        `${problem.name} (#${problem.id})`,
        problem.state,
        "",
        problem.instance_id ?? "none",
        problem.reason ?? "–",
      ];
      for (const text of cells) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.append(cell);
      }
      row.children[1].className = "health-state";
      row.children[2].className = "down-for";
      if (problem.since) row.children[2].dataset.since = problem.since;
      else row.children[2].textContent = "unknown";
      return row;
    }),
  );
  tickClock();
}

function renderIdentifications(plays) {
  setTimeZone(plays.time_zone);
  const rows = plays.identifications;
  $("identifications-empty").hidden = rows.length > 0;
  $("identifications-empty").textContent = plays.available
    ? "No song identified yet."
    : "Identifications appear here when the audio pipeline runs.";
  $("identifications-table").hidden = rows.length === 0;
  const signature = JSON.stringify(rows);
  if (signature === view.identificationsSignature) return;
  view.identificationsSignature = signature;
  $("identifications").replaceChildren(
    ...rows.map((play) => {
      const row = document.createElement("tr");
      const when = [play.date, play.time?.slice(0, 8)].filter(Boolean).join(" ");
      for (const text of [when, play.name, `${play.artist ?? "?"} - ${play.song_title ?? "?"}`, play.identified_by]) {
        const cell = document.createElement("td");
        cell.textContent = text ?? "–";
        row.append(cell);
      }
      return row;
    }),
  );
}

// ---- Clock: heartbeat ages and "last updated" tick every second --------------------------------

function formatAge(ms) {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 90) return `${seconds} s ago`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
  return `${Math.round(seconds / 3600)} h ago`;
}

function formatDuration(ms) {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 90) return `${seconds} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3600)} h`;
}

function tickClock() {
  const now = serverNowMs();
  for (const element of document.querySelectorAll(".heartbeat[data-timestamp]")) {
    const at = parseTimestamp(element.dataset.timestamp);
    setText(element, at === null ? "never" : formatAge(now - at));
  }
  for (const element of document.querySelectorAll(".down-for[data-since]")) {
    const at = parseTimestamp(element.dataset.since);
    setText(element, at === null ? "unknown" : formatDuration(now - at));
  }
  const since = view.lastSuccessMs;
  setText($("connection-age"), since === null ? "" : `updated ${formatAge(Date.now() - since)}`);
}

setInterval(() => {
  if (!document.hidden) tickClock();
}, 1000);

// ---- Filter: instances by text, streams by id ------------------------------------------------

function applyFilter() {
  const query = $("search").value.trim().toLowerCase();
  const streamId = /^\d+$/.test(query) ? Number(query) : null;
  const owner =
    streamId === null ? null : view.distribution.find((d) => d.stream_ids.includes(streamId));
  const matches = (instance) =>
    !query ||
    [instance.id, instance.status, instance.location, instance.version]
      .concat(instance.draining ? ["draining"] : [])
      .some((field) => (field || "").toLowerCase().includes(query)) ||
    (owner && owner.instance_id === instance.id);
  const visible = new Set(view.instances.filter(matches).map((i) => i.id));
  for (const card of $("instances").children) card.hidden = !visible.has(card.dataset.instanceId);
  for (const item of $("distribution").children) {
    item.hidden = !visible.has(item.dataset.instanceId);
  }
  setText($("stream-lookup"), describeLookup(query, streamId, owner, visible.size));
}

function describeLookup(query, streamId, owner, visibleCount) {
  if (streamId !== null) {
    if (owner) return `Stream ${streamId} is on ${owner.instance_id}.`;
    if (view.unassignedIds.includes(streamId)) return `Stream ${streamId} is unassigned.`;
    return (
      `Stream ${streamId} is not held by any instance right now ` +
      "(moving, or not in the catalogue)."
    );
  }
  if (query && visibleCount === 0) return `No instance matches “${query}”.`;
  return "";
}

$("search").addEventListener("input", applyFilter);

installOperatorActions(() => schedulePoll(0));
schedulePoll(0);
