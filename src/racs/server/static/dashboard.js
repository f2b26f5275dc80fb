// racs dashboard: the ledger's traffic over its own timeline (spend, findings, sessions,
// what-if) and the engine's live panels. Polls the server's own JSON routes; the view and
// its filters live in the URL so a view can be shared. Text is set with textContent only.
"use strict";

(function () {
  const C = window.RacsCharts;
  const fmt = C.fmt;
  const params = new URLSearchParams(location.search);
  const INTERVAL_MS = Math.max(1, Number(params.get("interval")) || 5) * 1000;
  const FILTERS = ["model", "project", "agent", "session"];
  const state = {
    view: params.get("view") === "session" && params.get("id") ? "session" : "overview",
    id: params.get("id") || "",
    range: params.get("range") || "all",
    since: params.get("since") || "",
    until: params.get("until") || "",
  };
  for (const f of FILTERS) state[f] = params.get(f) || "";
  let token = sessionStorage.getItem("racs-token") || "";
  let timer = null;
  let ticks = 0;
  let busy = false;
  let hasLedger = true;

  const $ = (id) => document.getElementById(id);
  const SPEND_LAYERS = [
    { key: "fresh", label: "uncached input", color: "#64748b" },
    { key: "read", label: "cache read", color: "#34d399" },
    { key: "write5m", label: "write 5m", color: "#a78bfa" },
    { key: "write30m", label: "write 30m", color: "#c4b5fd" },
    { key: "write1h", label: "write 1h", color: "#f472b6" },
    { key: "output", label: "output", color: "#38bdf8" },
  ];
  const REQUEST_LAYERS = [
    { key: "read", label: "read from cache", color: "#34d399" },
    { key: "written", label: "written to cache", color: "#a78bfa" },
    { key: "fresh", label: "uncached", color: "#94a3b8" },
  ];
  const CAUSE_LABELS = {
    expiry: "expiry", model_switch: "model switch", compaction: "compaction", drift: "drift",
    below_minimum: "below minimum", cold_start: "cold start", unexplained_miss: "unexplained miss",
    tier_choice: "tier choice",
  };

  // --- plumbing ---------------------------------------------------------------------

  async function get(path) {
    const headers = { Accept: "application/json" };
    if (token) headers.Authorization = "Bearer " + token;
    const res = await fetch(path, { headers });
    if (res.status === 401) throw Object.assign(new Error("unauthorized"), { auth: true });
    if (!res.ok) {
      let code = "";
      try { code = (await res.json()).code; } catch (e) { code = ""; }
      throw Object.assign(new Error(path + " " + res.status), { status: res.status, code });
    }
    return res.json();
  }

  function scopeQuery(extra) {
    const q = new URLSearchParams();
    q.set("range", state.range);
    if (state.range === "custom") {
      if (state.since) q.set("since", state.since);
      if (state.until) q.set("until", state.until);
    }
    for (const f of FILTERS) if (state[f]) q.set(f, state[f]);
    for (const [k, v] of Object.entries(extra || {})) q.set(k, v);
    return q.toString();
  }

  function syncUrl(push) {
    const q = new URLSearchParams(scopeQuery());
    if (state.range === "all") q.delete("range");
    if (state.view === "session") { q.set("view", "session"); q.set("id", state.id); }
    if (params.get("interval")) q.set("interval", params.get("interval"));
    const url = location.pathname + (q.toString() ? "?" + q.toString() : "");
    if (push) history.pushState(null, "", url); else history.replaceState(null, "", url);
  }

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text != null) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }
  const cell = (text, cls, title) => { const td = el("td", text, cls); if (title) td.title = title; return td; };
  const codeCell = (text, cls) => { const td = el("td", null, cls); td.title = text || ""; td.appendChild(el("code", text || "–")); return td; };
  const pillCell = (text, cls) => { const td = el("td"); if (text) td.appendChild(el("span", text, "pill " + cls)); else td.textContent = "–"; return td; };
  function shareCell(share) {
    const td = el("td", null, "share");
    if (share == null) { td.textContent = "–"; return td; }
    const bar = el("span", null, "share-bar");
    const fill = el("span", null, "share-fill");
    fill.style.width = (Math.max(0, Math.min(1, share)) * 100).toFixed(1) + "%";
    bar.appendChild(fill);
    td.append(bar, el("span", fmt.pct(share), "share-text"));
    return td;
  }
  function sessionLink(session, label) {
    const a = el("a", label || session, "session-link");
    const q = new URLSearchParams(scopeQuery());
    q.set("view", "session");
    q.set("id", session);
    a.href = "?" + q.toString();
    a.dataset.session = session;
    a.addEventListener("click", (ev) => { ev.preventDefault(); openSession(session); });
    return a;
  }

  function fillTable(id, rows, columns, emptyText) {
    const body = $(id).tBodies[0];
    const out = [];
    if (!rows.length) {
      const tr = el("tr");
      const td = el("td", emptyText, "empty");
      td.colSpan = columns;
      tr.appendChild(td);
      out.push(tr);
    }
    for (const cells of rows) {
      const tr = el("tr");
      if (cells.dataset) Object.assign(tr.dataset, cells.dataset);
      for (const c of cells) tr.appendChild(c);
      out.push(tr);
    }
    body.replaceChildren(...out);
  }

  function setValue(id, raw, text, cls) {
    const e = $(id);
    e.dataset.value = raw == null ? "" : String(raw);
    e.textContent = text;
    if (cls !== undefined) e.className = "value " + cls;
  }

  function status(ok, text) {
    $("status-dot").className = "dot " + (ok ? "ok" : "err");
    $("status-text").textContent = text;
  }

  // --- the toolbar --------------------------------------------------------------------

  function toLocalInput(ms) {
    if (!ms) return "";
    return new Date(Number(ms)).toISOString().slice(0, 16);
  }

  function renderToolbar() {
    for (const b of document.querySelectorAll("[data-range]")) b.classList.toggle("active", b.dataset.range === state.range);
    $("custom-range").classList.toggle("hidden", state.range !== "custom");
    for (const f of ["model", "project", "agent"]) $("f-" + f).value = state[f];
    $("f-session").value = state.session;
  }

  function fillSelect(id, values, current) {
    const sel = $(id);
    const opts = [el("option", "all")];
    opts[0].value = "";
    const seen = new Set(values);
    if (current && !seen.has(current)) values = [current, ...values];
    for (const v of values) { const o = el("option", v); o.value = v; opts.push(o); }
    sel.replaceChildren(...opts);
    sel.value = current || "";
  }

  async function loadOptions() {
    const o = await get("/traffic/options?" + scopeQuery());
    fillSelect("f-model", o.models, state.model);
    fillSelect("f-project", o.projects, state.project);
    fillSelect("f-agent", o.agents, state.agent);
    $("f-sessions").replaceChildren(...o.sessions.map((s) => { const opt = el("option"); opt.value = s; return opt; }));
  }

  function changed(push) {
    syncUrl(push);
    renderToolbar();
    ticks = 0;
    refresh(true);
  }

  // --- overview -----------------------------------------------------------------------

  function renderKpis(total) {
    const u = total.usd;
    setValue("spend-total", u.total, fmt.cents(u.total));
    const writes = u.write5m + u.write30m + u.write1h;
    $("spend-hint").textContent = "read " + fmt.cents(u.read) + " · writes " + fmt.cents(writes) + " · output " + fmt.cents(u.output) + " · uncached " + fmt.cents(u.fresh);
    setValue("requests-total", total.requests, fmt.int(total.requests));
    $("requests-hint").textContent = fmt.tokens(total.tokens.input) + " input tokens" + (total.unpricedRequests ? " · " + fmt.int(total.unpricedRequests) + " unpriced" : "");
    setValue("traffic-hit", total.hitRatio, fmt.pct(total.hitRatio));
    setValue("saved-total", u.saved, fmt.cents(u.saved));
    $("saved-hint").textContent = "reads against the input price; writes cost " + fmt.cents(u.writePremium) + " above it";
  }

  function renderSeries(ov) {
    const r = ov.range;
    const label = r.startMs == null ? "no requests yet" : fmt.range(r.startMs, r.endMs);
    $("range-label").textContent = label;
    $("range-label").dataset.start = r.startMs == null ? "" : String(r.startMs);
    $("range-label").dataset.end = r.endMs == null ? "" : String(r.endMs);
    const stepLabel = ov.bucketMs >= C.DAY ? (ov.bucketMs / C.DAY) + " d" : (ov.bucketMs / C.HOUR) + " h";
    $("spend-bucket").textContent = "USD per " + stepLabel + " (UTC)";
    if (!ov.series.length || !ov.total.requests) {
      for (const id of ["chart-spend", "chart-hitratio", "chart-requests"]) C.empty($(id), "no requests in this range");
      C.legend($("spend-legend"), []);
      return;
    }
    const used = SPEND_LAYERS.filter((l) => ov.total.usd[l.key] > 0 || (l.key !== "write30m" && ov.total.tokens[l.key] > 0));
    C.legend($("spend-legend"), used);
    const base = { start: r.startMs, end: r.endMs, step: ov.bucketMs };
    C.stacked($("chart-spend"), ov.series.map((p) => ({ t: p.t, values: p.usd })), used, { ...base, yFmt: (v) => "$" + (v >= 100 ? fmt.int(v) : v.toFixed(v >= 10 ? 0 : 2)) });
    C.line($("chart-hitratio"), ov.series.map((p) => ({ t: p.t, y: p.hitRatio })), { ...base, fixedMax: 1, color: "#34d399", yFmt: (v) => Math.round(v * 100) + "%" });
    C.stacked($("chart-requests"), ov.series.map((p) => ({ t: p.t, values: { n: p.requests } })), [{ key: "n", label: "requests", color: "#38bdf8" }], { ...base, yFmt: (v) => fmt.tokens(v) });
  }

  function ageText(body) {
    if (body.status === "ready") return "";
    if (body.status === "stale") return "updating · shown as of " + fmt.seconds(body.ageSeconds) + " ago";
    return "";
  }

  function findingRows(findings, withSession) {
    return findings.map((f) => {
      const where = el("td", null, "where");
      if (withSession) where.appendChild(sessionLink(f.session, f.session.slice(0, 8)));
      const stream = f.stream && f.stream !== f.session ? f.stream.replace(f.session + "/", "") : "main";
      where.appendChild(el("span", (withSession ? " · " : "") + stream + " · " + f.model, "muted"));
      const cells = [
        cell(fmt.usd(f.usd), "n strong"),
        pillCell(CAUSE_LABELS[f.cause] || f.cause, "cause " + f.cause),
        cell(f.timestampMs == null ? "–" : fmt.when(f.timestampMs)),
        where,
        cell(f.detail + (f.quote ? " (" + f.quote + ")" : ""), "detail", f.source),
        cell(f.action, "action"),
      ];
      cells.dataset = { cause: f.cause, usd: f.usd == null ? "" : String(f.usd), session: f.session };
      return cells;
    });
  }

  function causeRows(causes, withMeaning) {
    return causes.map((c) => {
      const cells = [
        pillCell(CAUSE_LABELS[c.cause] || c.cause, "cause " + c.cause),
        cell(fmt.int(c.count), "n"),
        cell(fmt.usd(c.usd), "n strong"),
      ];
      if (withMeaning) cells.push(cell(c.meaning, "detail"));
      cells.dataset = { cause: c.cause, usd: String(c.usd) };
      return cells;
    });
  }

  function gapBins(gaps, lifetimes) {
    const edges = gaps.edgesSeconds;
    const shortest = lifetimes.length ? lifetimes[0].seconds : 300;
    const longest = lifetimes.length ? lifetimes[lifetimes.length - 1].seconds : 3600;
    return gaps.counts.map((n, i) => {
      const hi = edges[i], lo = i ? edges[i - 1] : 0;
      const short = (s) => (s < 60 ? s + "s" : s < 3600 ? s / 60 + "m" : s / 3600 + "h");
      const label = hi == null ? ">" + short(lo) : "≤" + short(hi);
      const color = hi != null && hi <= shortest ? "#34d399" : hi != null && hi <= longest ? "#fbbf24" : "#f87171";
      return { label, value: n, color, extra: fmt.tokens(gaps.cachedTokens[i]) + " cached tokens at stake" };
    });
  }

  function renderReport(rep, efficiency) {
    const note = $("findings-note");
    const age = $("report-age");
    if (rep.status === "too_large") {
      const msg = fmt.int(rep.requests) + " requests: over the " + fmt.int(rep.limit) + " walked here. Run: " + rep.command;
      fillTable("causes", [], 4, msg);
      fillTable("findings", [], 6, msg);
      C.empty($("chart-gaps"), "range too large to walk here");
      age.textContent = ""; note.textContent = "";
      return;
    }
    if (rep.status === "failed") {
      fillTable("findings", [], 6, "the report failed: " + rep.error);
      return;
    }
    if (!rep.causes) {
      const msg = "walking " + fmt.int(rep.requests) + " requests…";
      fillTable("causes", [], 4, msg);
      fillTable("findings", [], 6, msg);
      C.empty($("chart-gaps"), msg);
      age.textContent = "computing"; note.textContent = rep.command ? "or run: " + rep.command : "";
      return;
    }
    age.textContent = ageText(rep);
    note.textContent = fmt.int(rep.causes.reduce((s, c) => s + c.count, 0)) + " findings, top " + Math.min(10, rep.findings.length) + " shown";
    fillTable("causes", causeRows(rep.causes, true), 4, "no cache miss cost anything");
    fillTable("findings", findingRows(rep.findings.slice(0, 10), true), 6, "no findings in this range");
    const lifetimes = rep.lifetimes || [];
    const edges = rep.gaps.edgesSeconds;
    const markers = lifetimes.map((lt) => ({ at: edges.indexOf(lt.seconds) + 1, label: lt.tier })).filter((m) => m.at > 0);
    if (rep.gaps.counts.some((n) => n > 0)) C.histogram($("chart-gaps"), gapBins(rep.gaps, lifetimes), { markers });
    else C.empty($("chart-gaps"), "no gaps: no stream has two requests");
    Object.assign(efficiency, rep.efficiency || {});
  }

  function renderBreakdowns(sessions, streams, models, eff) {
    const effOf = (dim, key) => (eff[dim] && key in eff[dim] ? fmt.pct(eff[dim][key]) : "–");
    fillTable("sessions", sessions.rows.map((r) => {
      const td = el("td");
      td.appendChild(sessionLink(r.key, r.key.slice(0, 8)));
      if (r.project) td.appendChild(el("span", " " + r.project.split("/").slice(-1)[0], "muted"));
      td.title = r.key + (r.project ? "\n" + r.project : "");
      return [td, cell(fmt.span(r.firstMs, r.lastMs), "muted"), cell(fmt.int(r.requests), "n"), cell(fmt.cents(r.usd.total), "n strong"), cell(fmt.pct(r.hitRatio), "n"), cell(effOf("session", r.key), "n")];
    }), 6, "no sessions in this range");
    fillTable("streams", streams.rows.map((r) => [
      cell(r.key, "mono", r.key), cell(fmt.int(r.requests), "n"), cell(fmt.cents(r.usd.total), "n strong"), cell(fmt.pct(r.hitRatio), "n"), cell(effOf("stream", r.key), "n"),
    ]), 5, "no streams in this range");
    fillTable("models", models.rows.map((r) => [
      cell(r.key, "mono"), cell(fmt.int(r.requests), "n"), cell(fmt.cents(r.usd.total), "n strong"), cell(fmt.pct(r.hitRatio), "n"), cell(fmt.cents(r.usd.saved), "n"),
    ]), 5, "no models in this range");
  }

  function renderWhatIf(w) {
    const note = $("whatif-note");
    $("whatif-age").textContent = ageText(w);
    if (w.status === "too_large") {
      fillTable("whatif", [], 4, fmt.int(w.requests) + " requests: too many to replay here (limit " + fmt.int(w.limit) + ")");
      note.textContent = "Replay from a shell: " + w.command;
      return;
    }
    if (w.status === "failed") { fillTable("whatif", [], 4, w.error); note.textContent = ""; return; }
    if (!w.strategies) {
      fillTable("whatif", [], 4, "replaying " + fmt.int(w.requests) + " requests…");
      note.textContent = w.command ? "or from a shell: " + w.command : "";
      return;
    }
    const neutral = w.strategies.neutral || {};
    const pess = w.strategies.pessimistic || {};
    const order = ["recorded", "none", "5m", "1h", "racs", "optimum"];
    const names = [...order.filter((n) => n in neutral), ...Object.keys(neutral).filter((n) => !order.includes(n))];
    const label = { recorded: "as recorded", none: "no caching", "5m": "always 5m", "1h": "always 1h", racs: "racs planner", optimum: "hindsight optimum" };
    fillTable("whatif", names.map((n) => {
      const a = neutral[n], b = pess[n];
      const cost = b ? fmt.cents(a.totalUsd) + " – " + fmt.cents(b.totalUsd) : fmt.cents(a.totalUsd);
      const cells = [cell(label[n] || n, n === "optimum" ? "strong" : ""), cell(cost, "n"), cell(n === "optimum" ? "–" : fmt.cents(a.gapUsd), "n"), shareCell(a.capturedShare)];
      cells.dataset = { strategy: n, usd: String(a.totalUsd) };
      return cells;
    }), 4, "nothing to replay in this range");
    const cal = w.calibration || {};
    note.textContent = fmt.int(w.requests) + " requests in " + fmt.int(w.streams) + " streams, billed " + fmt.cents(w.billedUsd) +
      (cal.exactShare != null ? " · the cache model reproduces " + fmt.pct(cal.exactShare) + " of them exactly" : "") +
      " · cost as neutral – pessimistic setting";
  }

  async function refreshTraffic() {
    const q = scopeQuery();
    const ov = await get("/traffic/overview?" + q);
    if (ticks % 6 === 0) await loadOptions();
    const f = ov.fold;
    $("fold-note").textContent = f.behind > 0 ? "reading the ledger: " + fmt.int(f.position) + " of " + fmt.int(f.head) + " events" : "";
    renderKpis(ov.total);
    renderSeries(ov);
    const [sessions, streams, models, rep, whatif] = await Promise.all([
      get("/traffic/breakdown?" + scopeQuery({ dim: "session", limit: "12" })),
      get("/traffic/breakdown?" + scopeQuery({ dim: "stream", limit: "10" })),
      get("/traffic/breakdown?" + scopeQuery({ dim: "model", limit: "10" })),
      get("/traffic/report?" + q),
      get("/traffic/whatif?" + q),
    ]);
    const eff = {};
    renderReport(rep, eff);
    renderBreakdowns(sessions, streams, models, eff);
    renderWhatIf(whatif);
  }

  // --- the engine's live panels ---------------------------------------------------------

  function renderEngine(s, health, history, schedule, drifts, runs) {
    setValue("hit-ratio", s.hitRatio, fmt.pct(s.hitRatio));
    const net = s.netUsd;
    setValue("net-usd", net == null ? "" : net, fmt.usd(net), net == null ? "" : net >= 0 ? "pos" : "neg");
    $("saved-usd-hint").textContent = s.savedUsd == null ? "no pricing configured for these models" : "saved " + fmt.usd(s.savedUsd) + " before write and storage spend";
    setValue("calls", s.calls, fmt.int(s.calls));
    $("hits-hint").textContent = s.hits == null ? "\u00a0" : fmt.int(s.hits) + " hits";
    setValue("plans", health.plansCreated, fmt.int(health.plansCreated));
    $("uptime").textContent = "up " + fmt.seconds(health.uptimeSeconds) + " · v" + health.version;
    setValue("read-tokens", s.readTokens, fmt.int(s.readTokens));
    setValue("write-tokens", s.writeTokens, fmt.int(s.writeTokens));
    setValue("uncached-tokens", s.uncachedTokens, fmt.int(s.uncachedTokens));
    const total = s.readTokens + s.writeTokens + s.uncachedTokens;
    const bar = $("token-bar").children;
    [s.readTokens, s.writeTokens, s.uncachedTokens].forEach((v, i) => { bar[i].style.width = total > 0 ? ((100 * v) / total).toFixed(2) + "%" : "0"; });
    const samples = (history.samples || []).filter((p) => p.hitRatio != null);
    if (samples.length) {
      const t0 = samples[0].t, t1 = Math.max(samples[samples.length - 1].t, t0 + 1000);
      C.line($("chart-hit"), samples.map((p) => ({ t: p.t, y: p.hitRatio })), { start: t0, end: t1, step: 0, fixedMax: 1, color: "#34d399", yFmt: () => "", spark: true });
    } else C.empty($("chart-hit"), "collecting samples…");
    const top = [...s.prefixes].sort((a, b) => b.calls - a.calls || b.readTokens - a.readTokens).slice(0, 8);
    fillTable("prefixes", top.map((p) => [codeCell(p.prefixKey, "key"), cell(fmt.int(p.calls), "n"), cell(fmt.pct(p.hitRatio), "n"), cell(fmt.tokens(p.readTokens), "n"), cell(p.netUsd == null ? "n/a" : fmt.usd(p.netUsd), "n")]), 5, "no usage recorded yet");
    fillTable("schedule", schedule.slice(0, 8).map((e) => [codeCell(e.prefixKey, "key"), cell(e.provider + " / " + e.model), cell(String(typeof e.ttl === "number" ? e.ttl + " s" : e.ttl)), cell(fmt.seconds((Date.now() - e.refreshAt) / 1000), "n")]), 4, "nothing due");
    fillTable("drifts", [...drifts.drifts].reverse().slice(0, 8).map((r) => [cell(fmt.seconds((Date.now() - r.timestamp) / 1000) + " ago"), cell(r.agentId || r.lineage || "–"), cell(r.changedSegmentIds.join(", ")), cell(fmt.int(r.invalidatedTokens), "n")]), 4, "no drift detected");
    if (!runs) { fillTable("runs", [], 6, "no ledger attached (start with --ledger)"); return; }
    fillTable("runs", runs.items.map((r) => [
      cell(fmt.when(r.startedAt), "muted"), codeCell(r.runId, "run-id"), cell(r.agentId || "–"), cell(r.model || "–", "mono"),
      pillCell(r.status, r.status), cell(r.costUsd == null ? "–" : fmt.usd(r.costUsd), "n"),
    ]), 6, "no runs yet");
  }

  async function refreshEngine(health) {
    const [stats, history, schedule, drifts] = await Promise.all([
      get("/stats"), get("/stats/history"), get("/schedule"), get("/drifts?limit=50"),
    ]);
    const runs = health.ledger ? await get("/ledger/runs?limit=8") : null;
    renderEngine(stats, health, history, schedule, drifts, runs);
  }

  // --- one session ------------------------------------------------------------------------

  function openSession(session) {
    state.view = "session";
    state.id = session;
    syncUrl(true);
    showView();
    refresh(true);
  }

  function showView() {
    const session = state.view === "session";
    $("overview").classList.toggle("hidden", session);
    $("session-view").classList.toggle("hidden", !session);
    $("toolbar").classList.toggle("hidden", session);
    document.body.dataset.view = state.view;
  }

  async function refreshSession() {
    const s = await get("/traffic/session?" + new URLSearchParams({ id: state.id }).toString());
    $("session-id").textContent = s.session;
    const reqs = s.requests;
    const first = reqs.length ? reqs[0].t : null, last = reqs.length ? reqs[reqs.length - 1].t : null;
    const meta = [s.project || "no project", s.streams.length + (s.streams.length === 1 ? " stream" : " streams")];
    if (first != null) meta.push(fmt.range(first, last));
    if (s.truncated) meta.push("first " + fmt.int(reqs.length) + " requests shown");
    $("session-meta").textContent = meta.join(" · ");
    const t = s.total;
    setValue("s-spend", t.usd.total, fmt.cents(t.usd.total));
    $("s-spend-hint").textContent = "read " + fmt.cents(t.usd.read) + " · writes " + fmt.cents(t.usd.write5m + t.usd.write30m + t.usd.write1h) + " · output " + fmt.cents(t.usd.output);
    setValue("s-requests", t.requests, fmt.int(t.requests));
    $("s-span").textContent = first == null ? "" : fmt.seconds((last - first) / 1000) + " long";
    setValue("s-hit", t.hitRatio, fmt.pct(t.hitRatio));
    setValue("s-eff", t.prefixEfficiency, fmt.pct(t.prefixEfficiency));
    C.legend($("session-legend"), REQUEST_LAYERS);
    if (reqs.length) {
      const pad = Math.max(60e3, (last - first) * 0.02);
      const base = { start: first - pad, end: last + pad, step: 0 };
      C.requestBars($("session-chart"), reqs, REQUEST_LAYERS, { ...base, yFmt: fmt.tokens });
      C.gapScatter($("session-gaps"), reqs, s.lifetimes, base);
    } else {
      C.empty($("session-chart"), "no requests in this session");
      C.empty($("session-gaps"), "no requests in this session");
    }
    C.legend($("gap-legend"), [
      { label: "within the shortest lifetime", color: "#34d399" },
      { label: "past it", color: "#fbbf24" },
      { label: "past the longest", color: "#f87171" },
    ]);
    fillTable("s-streams", s.streams.map((r) => [cell(r.key, "mono", r.key), cell(fmt.int(r.requests), "n"), cell(fmt.cents(r.usd), "n strong"), cell(fmt.pct(r.hitRatio), "n"), cell(fmt.pct(r.prefixEfficiency), "n")]), 5, "no streams");
    fillTable("s-causes", causeRows(s.causes, false), 3, "no cache miss cost anything");
    fillTable("s-findings", findingRows(s.findings.slice(0, 20), false), 6, "no findings in this session");
    $("s-command").textContent = s.command;
  }

  // --- the loop -----------------------------------------------------------------------------

  async function refresh(now) {
    if (busy && !now) return;
    busy = true;
    try {
      const health = await get("/healthz");
      hasLedger = health.ledger;
      document.body.classList.toggle("no-ledger", !hasLedger);
      $("no-ledger").classList.toggle("hidden", hasLedger);
      const work = [refreshEngine(health)];
      if (state.view === "session" && hasLedger) work.push(refreshSession());
      else if (hasLedger) work.push(refreshTraffic());
      await Promise.all(work);
      ticks += 1;
      $("token-form").classList.add("hidden");
      status(true, "live · updated " + new Date().toLocaleTimeString());
      document.body.dataset.loaded = "true";
    } catch (err) {
      if (err.auth) {
        $("token-form").classList.remove("hidden");
        status(false, "token required");
      } else {
        status(false, err.status ? "error: " + err.message : "server unreachable");
      }
    } finally {
      busy = false;
    }
  }

  $("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    token = $("token-input").value.trim();
    sessionStorage.setItem("racs-token", token);
    refresh(true);
  });
  for (const b of document.querySelectorAll("[data-range]")) {
    b.addEventListener("click", () => {
      state.range = b.dataset.range;
      if (state.range === "custom") {
        renderToolbar();
        const start = Number($("range-label").dataset.start), end = Number($("range-label").dataset.end);
        if (!$("custom-since").value && start) $("custom-since").value = toLocalInput(start);
        if (!$("custom-until").value && end) $("custom-until").value = toLocalInput(end);
        return;
      }
      changed(false);
    });
  }
  $("custom-apply").addEventListener("click", () => {
    const parse = (v) => (v ? String(Date.parse(v + ":00Z")) : "");
    state.since = parse($("custom-since").value);
    state.until = parse($("custom-until").value);
    changed(false);
  });
  for (const f of ["model", "project", "agent"]) {
    $("f-" + f).addEventListener("change", (ev) => { state[f] = ev.target.value; changed(false); });
  }
  $("f-session").addEventListener("change", (ev) => { state.session = ev.target.value.trim(); changed(false); });
  $("f-clear").addEventListener("click", () => { for (const f of FILTERS) state[f] = ""; changed(false); });
  $("back-link").addEventListener("click", (ev) => { ev.preventDefault(); state.view = "overview"; syncUrl(true); showView(); refresh(true); });
  window.addEventListener("popstate", () => {
    const p = new URLSearchParams(location.search);
    state.view = p.get("view") === "session" && p.get("id") ? "session" : "overview";
    state.id = p.get("id") || "";
    state.range = p.get("range") || "all";
    state.since = p.get("since") || "";
    state.until = p.get("until") || "";
    for (const f of FILTERS) state[f] = p.get(f) || "";
    showView();
    renderToolbar();
    refresh(true);
  });
  if (state.range === "custom") {
    $("custom-since").value = toLocalInput(state.since);
    $("custom-until").value = toLocalInput(state.until);
  }
  $("interval").textContent = String(INTERVAL_MS / 1000);
  showView();
  renderToolbar();
  refresh(true);
  timer = setInterval(() => refresh(false), INTERVAL_MS);
  window.addEventListener("beforeunload", () => clearInterval(timer));
})();
