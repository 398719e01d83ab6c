// The fleet dashboard: one EventSource on /ui/events; each `fleet` event carries the whole
// state, which is rendered as it comes and compared with the previous one for the event feed.
"use strict";

// `$` and `el` come from dom.js, loaded first.
const short = (s) => (s ? String(s).slice(0, 12) : "—");
let previous = null;

function definition(pairs) {
  const dl = el("dl");
  for (const [k, v, attrs] of pairs) dl.append(el("dt", {}, k), el("dd", attrs || {}, v));
  return dl;
}

function renderCluster(c) {
  const ok = c.Status === "connected";
  const card = el("article", { class: "cluster " + (ok ? "ok" : "bad"), id: "cluster-" + c.Id, "data-id": c.Id });
  card.append(el("h2", {}, c.Id, el("span", { class: "badge" }, c.Status)));
  card.append(definition([
    ["Leader", c.Leader, { class: "leader", "data-field": "leader" }],
    ["VersionSets", (c.VersionSets || []).join(", ") || "—"],
    ["Desired", short(c.Desired.Commit) + " · " + short(c.Desired.Hash)],
    ["Applied", c.Applied ? short(c.Applied.Commit) + " · index " + c.Applied.Index : "—", { "data-field": "applied", "data-commit": c.Applied ? c.Applied.Commit : "" }],
    ["In sync", c.InSync ? "yes" : "no", { "data-field": "insync" }],
    ["Pending", c.Pending.length ? c.Pending.join("; ") : "none"],
    ["Drift", c.Drift ? "yes" : "no"],
    ["Last error", c.LastError || "none", { class: c.LastError ? "error" : "" }],
  ]));
  const rows = c.Members.map((m) =>
    el("tr", { class: m.Role === "leader" ? "leader" : "" },
      el("td", {}, m.ApiUrl), el("td", {}, m.Role || "—"), el("td", {}, m.Online ? "up" : "down"),
      el("td", {}, m.Version || "—"), el("td", {}, m.Lag)));
  card.append(el("table", {},
    el("thead", {}, el("tr", {}, ...["Member", "Role", "Online", "Version", "Lag"].map((h) => el("th", {}, h)))),
    el("tbody", {}, ...rows)));
  return card;
}

function renderGit(g) {
  const body = el("div");
  body.append(definition([
    ["Repo", (g.Repo || "—") + " @ " + g.Branch],
    ["Head", short(g.Head)],
    ["Last good", short(g.Commit), { "data-field": "good", "data-commit": g.Commit || "" }],
    ["Rejected", g.Rejected ? short(g.Rejected.Commit) : "none", { "data-field": "rejected" }],
  ]));
  if (g.Rejected) {
    const list = el("ul", { id: "git-errors", class: "error" });
    for (const e of g.Rejected.Errors) list.append(el("li", {}, el("code", {}, e)));
    body.append(list);
  }
  if (g.ReadError) body.append(el("p", { class: "error" }, g.ReadError));
  return body;
}

function renderRollout(clusters) {
  const moving = clusters.filter((c) => c.Apply && !c.InSync);
  if (!moving.length) return el("p", {}, "Every applying cluster holds its desired state.");
  const list = el("ul");
  for (const c of moving) list.append(el("li", {}, c.Id + ": " + short(c.Applied && c.Applied.Commit) + " → " + short(c.Desired.Commit) + (c.Pending.length ? " (" + c.Pending.length + " pending)" : "")));
  return list;
}

function note(text) {
  const item = el("li", {}, new Date().toLocaleTimeString() + " " + text);
  $("events").prepend(item);
  while ($("events").children.length > 200) $("events").lastChild.remove();
}

function diff(before, now) {
  if (!before) { note("connected: " + now.Clusters.length + " cluster(s)"); return; }
  const old = Object.fromEntries(before.Clusters.map((c) => [c.Id, c]));
  for (const c of now.Clusters) {
    const o = old[c.Id];
    if (!o) { note(c.Id + " registered"); continue; }
    if (o.Leader !== c.Leader && c.Leader) note(c.Id + ": new leader " + c.Leader);
    if (o.Status !== c.Status) note(c.Id + ": " + o.Status + " → " + c.Status);
    const oc = o.Applied && o.Applied.Commit, nc = c.Applied && c.Applied.Commit;
    if (oc !== nc && nc) note(c.Id + ": applied commit " + short(nc));
    if (c.LastError && c.LastError !== o.LastError) note(c.Id + ": " + c.LastError);
  }
  if (before.Git.Commit !== now.Git.Commit && now.Git.Commit) note("git: commit " + short(now.Git.Commit) + " accepted");
  const rb = before.Git.Rejected && before.Git.Rejected.Commit, rn = now.Git.Rejected && now.Git.Rejected.Commit;
  if (rn && rb !== rn) note("git: commit " + short(rn) + " rejected");
}

function render(state) {
  $("clusters").replaceChildren(...state.Clusters.map(renderCluster));
  $("git-body").replaceChildren(renderGit(state.Git));
  $("rollout-body").replaceChildren(renderRollout(state.Clusters));
  diff(previous, state);
  previous = state;
}

function connect() {
  const source = new EventSource("/ui/events");
  source.addEventListener("fleet", (e) => {
    $("live").textContent = "live";
    $("live").className = "badge ok";
    render(JSON.parse(e.data));
  });
  source.onerror = () => {
    $("live").textContent = "reconnecting…";
    $("live").className = "badge bad";
  };
}

connect();
