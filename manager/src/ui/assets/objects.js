// The fleet's objects from the manager's replica. /ui/api/<collection> answers what
// /api/v3/<collection> answers: DRP's filters and paging, the counts in X-DRP-List-*-Count
// and the endpoints whose replica is not current in X-DRP-Stale-Endpoints. The page re-reads
// its current page every few seconds, so a cluster going stale shows without a reload.
// `$` and `el` come from dom.js, loaded first.
"use strict";

const TIMEOUT_MS = 10000;
const REFRESH_MS = 3000;
const SEARCH_DEBOUNCE_MS = 300;
const PAGE_SIZES = [5, 10, 25, 50, 100];

// Per collection: its key, the field the search box matches, and the columns worth a glance.
const VIEWS = {
  machines: { key: "Uuid", search: "Name", cols: ["Name", "Uuid", "Address", "Workflow", "Stage", "Runnable"] },
  profiles: { key: "Name", search: "Name", cols: ["Name", "Description", "Profiles"] },
  jobs: { key: "Uuid", search: "Uuid", cols: ["Uuid", "Machine", "Task", "State", "StartTime"] },
  subnets: { key: "Name", search: "Name", cols: ["Name", "Subnet", "ActiveStart", "ActiveEnd", "Enabled"] },
  params: { key: "Name", search: "Name", cols: ["Name", "Description"] },
  workflows: { key: "Name", search: "Name", cols: ["Name", "Stages", "Description"] },
  stages: { key: "Name", search: "Name", cols: ["Name", "BootEnv", "Tasks"] },
  tasks: { key: "Name", search: "Name", cols: ["Name", "Description"] },
  templates: { key: "ID", search: "ID", cols: ["ID", "Description"] },
  bootenvs: { key: "Name", search: "Name", cols: ["Name", "OS.Name", "Description"] },
  reservations: { key: "Addr", search: "Addr", cols: ["Addr", "Token", "Strategy"] },
  leases: { key: "Addr", search: "Addr", cols: ["Addr", "Token", "State", "ExpireTime"] },
  users: { key: "Name", search: "Name", cols: ["Name", "Roles"] },
  roles: { key: "Name", search: "Name", cols: ["Name", "Description"] },
  pools: { key: "Id", search: "Id", cols: ["Id", "Description"] },
  contexts: { key: "Name", search: "Name", cols: ["Name", "Engine", "Image"] },
};

const view = { collection: "machines", endpoint: "", search: "", limit: 25, offset: 0 };
let seq = 0; // the newest request: an older reply arriving late is dropped
let timer = null;
let searchTimer = null;
let shown = []; // the objects on the page
let selected = null; // { endpoint, key } of the object in the detail panel

// A dotted path into an object ("OS.Name").
const field = (o, path) => path.split(".").reduce((v, k) => (v == null ? v : v[k]), o);

function cell(v) {
  if (v == null || v === "") return "—";
  if (Array.isArray(v)) return v.map((x) => (typeof x === "object" ? JSON.stringify(x) : String(x))).join(", ") || "—";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

// The view kept in the address, so a reload or a shared link shows the same page.
function readAddress() {
  const p = new URLSearchParams(location.search);
  if (VIEWS[p.get("collection")]) view.collection = p.get("collection");
  view.endpoint = p.get("endpoint") || "";
  view.search = p.get("search") || "";
  const limit = Number(p.get("limit"));
  if (PAGE_SIZES.includes(limit)) view.limit = limit;
  const offset = Number(p.get("offset"));
  if (Number.isSafeInteger(offset) && offset > 0) view.offset = offset;
}

function writeAddress() {
  const p = new URLSearchParams();
  for (const k of ["collection", "endpoint", "search", "limit", "offset"]) if (view[k]) p.set(k, view[k]);
  history.replaceState(null, "", "?" + p);
}

// The search is a substring of the field, as DRP's `Re` filter (RE2, matched anywhere) with
// every metacharacter escaped, so what is typed is matched literally.
function literal(text) {
  return text.replace(/[\\.+*?()|[\]{}^$]/g, "\\$&");
}

function query() {
  const q = new URLSearchParams();
  if (view.endpoint) q.set("Endpoint", "Eq(" + view.endpoint + ")");
  if (view.search) q.set(VIEWS[view.collection].search, "Re(" + literal(view.search) + ")");
  q.set("offset", view.offset);
  q.set("limit", view.limit);
  return q;
}

function problem(status, body) {
  const msgs = body && Array.isArray(body.Messages) ? body.Messages.join("; ") : "";
  return "HTTP " + status + (msgs ? ": " + msgs : "");
}

function header(resp, name, fallback) {
  const n = Number(resp.headers.get(name));
  return resp.headers.has(name) && Number.isSafeInteger(n) ? n : fallback;
}

function setLive(ok, text) {
  $("live").textContent = text;
  $("live").className = "badge " + (ok ? "ok" : "bad");
}

function showError(text) {
  $("error").textContent = text;
  $("error").hidden = !text;
}

async function load() {
  clearTimeout(timer);
  const mine = ++seq;
  writeAddress();
  try {
    const url = "/ui/api/" + encodeURIComponent(view.collection) + "?" + query();
    const resp = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS), headers: { Accept: "application/json" } });
    if (mine !== seq) return;
    // The session ended: reloading shows the sign-in form.
    if (resp.status === 401) { location.reload(); return; }
    const body = await resp.json().catch(() => null);
    if (mine !== seq) return;
    if (!resp.ok || !Array.isArray(body)) throw new Error(problem(resp.status, body));
    const matched = header(resp, "X-DRP-List-Filter-Count", body.length);
    const total = header(resp, "X-DRP-List-Total-Count", matched);
    // Past the end (objects went away, or a stale address): the last page instead.
    if (view.offset > 0 && view.offset >= matched) {
      view.offset = Math.max(0, Math.floor((matched - 1) / view.limit) * view.limit);
      load();
      return;
    }
    const stale = (resp.headers.get("X-DRP-Stale-Endpoints") || "").split(",").map((s) => s.trim()).filter(Boolean);
    render(body, matched, total, stale);
    setLive(true, "live");
    showError("");
  } catch (e) {
    if (mine !== seq) return;
    setLive(false, "error");
    showError("Could not list " + view.collection + ": " + (e.name === "TimeoutError" ? "no answer in " + TIMEOUT_MS / 1000 + " s" : e.message));
  } finally {
    if (mine === seq) timer = setTimeout(tick, REFRESH_MS);
  }
}

function tick() {
  if (document.hidden) timer = setTimeout(tick, REFRESH_MS);
  else load();
}

function render(items, matched, total, stale) {
  const spec = VIEWS[view.collection];
  const staleSet = new Set(stale);
  $("columns").replaceChildren(...["Endpoint", ...spec.cols].map((c) => el("th", { scope: "col" }, c)));
  shown = items;
  const rows = items.map((o) => row(o, spec, staleSet));
  if (!rows.length) rows.push(el("tr", { class: "empty" }, el("td", { colspan: spec.cols.length + 1 }, "No " + view.collection + " match.")));
  $("rows").replaceChildren(...rows);
  $("stale-banner").textContent = stale.length
    ? "Stale replica: " + stale.join(", ") + ". The manager is not following " + (stale.length > 1 ? "these endpoints" : "this endpoint") + " right now; its objects are shown as last seen."
    : "";
  $("stale-banner").hidden = !stale.length;
  const first = items.length ? view.offset + 1 : 0;
  $("page-info").textContent = first + "–" + (view.offset + items.length) + " of " + matched + " matching · " + total + " in the fleet";
  $("prev").disabled = view.offset === 0;
  $("next").disabled = view.offset + items.length >= matched;
  refreshDetail();
}

function keyOf(o) {
  return { endpoint: String(o.Endpoint ?? ""), key: cell(field(o, VIEWS[view.collection].key)) };
}

const same = (a, b) => a && b && a.endpoint === b.endpoint && a.key === b.key;

function row(o, spec, staleSet) {
  const id = keyOf(o);
  const stale = staleSet.has(id.endpoint);
  const tr = el("tr", { "data-endpoint": id.endpoint, "data-key": id.key, "data-stale": String(stale) });
  if (stale) tr.classList.add("stale");
  if (same(id, selected)) tr.classList.add("selected");
  const ep = el("td", { class: "endpoint" }, id.endpoint || "—");
  if (stale) ep.append(" ", el("span", { class: "badge bad" }, "stale"));
  tr.append(ep);
  for (const c of spec.cols) {
    const text = cell(field(o, c));
    // The key is a button, so the row opens from the keyboard too.
    const content = c === spec.key ? el("button", { type: "button", class: "link" }, text) : text;
    tr.append(el("td", { title: text, "data-col": c }, content));
  }
  tr.addEventListener("click", () => show(o));
  return tr;
}

function show(o) {
  selected = keyOf(o);
  for (const tr of $("rows").children) tr.classList.toggle("selected", same(selected, { endpoint: tr.dataset.endpoint, key: tr.dataset.key }));
  $("detail-title").textContent = view.collection + " " + selected.key + " on " + (selected.endpoint || "—");
  $("detail-json").textContent = JSON.stringify(o, null, 2);
  $("detail-json").hidden = false;
  $("detail-hint").hidden = true;
}

// The selected object stays as last seen when it leaves the page, and follows it while shown.
function refreshDetail() {
  const o = shown.find((x) => same(keyOf(x), selected));
  if (o) $("detail-json").textContent = JSON.stringify(o, null, 2);
}

function clearDetail() {
  selected = null;
  $("detail-title").textContent = "Object";
  $("detail-json").hidden = true;
  $("detail-hint").hidden = false;
}

let endpointsShown = null;

function fillEndpoints(clusters) {
  // Fleet events come often (lag, leaders); rebuild the choices only when they change, so an
  // open drop-down is not replaced under the pointer.
  const signature = JSON.stringify(clusters.map((c) => [c.Id, c.Status]));
  if (signature === endpointsShown) return;
  endpointsShown = signature;
  const select = $("endpoint");
  const ids = clusters.map((c) => c.Id);
  if (view.endpoint && !ids.includes(view.endpoint)) ids.push(view.endpoint);
  const status = Object.fromEntries(clusters.map((c) => [c.Id, c.Status]));
  const options = ids.map((id) => el("option", { value: id }, id + (status[id] && status[id] !== "connected" ? " (" + status[id] + ")" : "")));
  select.replaceChildren(el("option", { value: "" }, "All endpoints"), ...options);
  select.value = view.endpoint;
}

// Every change of the filters shows their first page at once.
function applyFilters() {
  const collection = $("collection").value;
  if (collection !== view.collection) clearDetail();
  view.collection = VIEWS[collection] ? collection : "machines";
  view.endpoint = $("endpoint").value;
  view.search = $("search").value;
  view.limit = Number($("limit").value) || 25;
  view.offset = 0;
  $("search-label").textContent = VIEWS[view.collection].search;
  load();
}

function start() {
  readAddress();
  $("collection").replaceChildren(...Object.keys(VIEWS).map((c) => el("option", { value: c }, c)));
  $("collection").value = view.collection;
  $("limit").value = String(view.limit);
  $("search").value = view.search;
  $("search-label").textContent = VIEWS[view.collection].search;
  fillEndpoints([]);
  $("filters").addEventListener("submit", (e) => { e.preventDefault(); applyFilters(); });
  for (const id of ["collection", "endpoint", "limit"]) $(id).addEventListener("change", applyFilters);
  $("search").addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(applyFilters, SEARCH_DEBOUNCE_MS);
  });
  $("prev").addEventListener("click", () => { view.offset = Math.max(0, view.offset - view.limit); load(); });
  $("next").addEventListener("click", () => { view.offset += view.limit; load(); });
  document.addEventListener("visibilitychange", () => { if (!document.hidden) load(); });
  // The endpoint choices follow the fleet's registrations live.
  new EventSource("/ui/events").addEventListener("fleet", (e) => fillEndpoints(JSON.parse(e.data).Clusters));
  load();
}

start();
