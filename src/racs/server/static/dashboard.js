// racs dashboard: polls the server's own JSON endpoints and draws with plain SVG.
// Everything is built with DOM calls and textContent: prefix keys and agent ids are data,
// never markup.
"use strict";

(function () {
  const params = new URLSearchParams(location.search);
  const INTERVAL_MS = Math.max(1, Number(params.get("interval")) || 3) * 1000;
  const SVG = "http://www.w3.org/2000/svg";
  let token = sessionStorage.getItem("racs-token") || "";
  let timer = null;

  const $ = (id) => document.getElementById(id);
  const nf = new Intl.NumberFormat("en-US");
  const fmtInt = (n) => (n == null ? "–" : nf.format(Math.round(n)));
  const fmtPct = (r) => (r == null ? "–" : (r * 100).toFixed(1) + "%");
  const fmtUsd = (v) => (v == null ? "n/a" : (v < 0 ? "-$" : "$") + Math.abs(v).toFixed(Math.abs(v) < 10 ? 4 : 2));
  const short = (key) => (key && key.length > 18 ? key.slice(0, 16) + "…" : key || "");
  const ago = (ms) => {
    const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
    if (s < 60) return s + " s";
    if (s < 3600) return Math.round(s / 60) + " min";
    return Math.round(s / 3600) + " h";
  };

  async function get(path) {
    const headers = { Accept: "application/json" };
    if (token) headers.Authorization = "Bearer " + token;
    const res = await fetch(path, { headers });
    if (res.status === 401) throw Object.assign(new Error("unauthorized"), { auth: true });
    if (!res.ok) throw Object.assign(new Error(path + " " + res.status), { status: res.status });
    return res.json();
  }

  function setValue(id, raw, text, cls) {
    const el = $(id);
    el.dataset.value = raw == null ? "" : String(raw);
    el.textContent = text;
    if (cls !== undefined) el.className = "value " + cls;
  }

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text != null) e.textContent = text;
    if (cls) e.className = cls;
    return e;
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
      for (const c of cells) tr.appendChild(c);
      out.push(tr);
    }
    body.replaceChildren(...out);
  }

  const cell = (text, cls) => el("td", text, cls);
  const codeCell = (text, title) => {
    const td = el("td");
    const c = el("code", short(text));
    td.title = title || text || "";
    td.appendChild(c);
    return td;
  };
  const pillCell = (text, cls) => {
    const td = el("td");
    if (text) td.appendChild(el("span", text, "pill " + cls));
    else td.textContent = "–";
    return td;
  };

  function svg(tag, attrs) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    return e;
  }

  // A line chart of (t, y) points scaled to the viewBox, with three grid lines.
  function lineChart(id, points, color, fmt, fixedMax) {
    const root = $(id);
    const W = 600, H = 180, L = 46, R = 8, T = 10, B = 22;
    const nodes = [];
    const defs = svg("defs");
    const grad = svg("linearGradient", { id: id + "-fill", x1: "0", y1: "0", x2: "0", y2: "1" });
    grad.appendChild(svg("stop", { offset: "0%", "stop-color": color, "stop-opacity": "0.55" }));
    grad.appendChild(svg("stop", { offset: "100%", "stop-color": color, "stop-opacity": "0" }));
    defs.appendChild(grad);
    nodes.push(defs);
    const pts = points.filter((p) => p.y != null);
    if (pts.length < 1) {
      const t = svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "empty" });
      t.textContent = "collecting samples…";
      nodes.push(t);
      root.replaceChildren(...nodes);
      return;
    }
    let lo = Math.min(0, ...pts.map((p) => p.y));
    let hi = fixedMax != null ? fixedMax : Math.max(...pts.map((p) => p.y));
    if (hi - lo < 1e-9) hi = lo + 1;
    const t0 = pts[0].t, t1 = pts[pts.length - 1].t;
    const span = Math.max(1, t1 - t0);
    const x = (t) => L + ((t - t0) / span) * (W - L - R);
    const y = (v) => T + (1 - (v - lo) / (hi - lo)) * (H - T - B);
    for (let i = 0; i <= 2; i++) {
      const v = lo + ((hi - lo) * i) / 2;
      nodes.push(svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid-line" }));
      const label = svg("text", { x: L - 6, y: y(v) + 3, "text-anchor": "end", class: "axis" });
      label.textContent = fmt(v);
      nodes.push(label);
    }
    const path = pts.length === 1
      ? `M${L},${y(pts[0].y)} L${W - R},${y(pts[0].y)}`
      : pts.map((p, i) => (i ? "L" : "M") + x(p.t).toFixed(1) + "," + y(p.y).toFixed(1)).join(" ");
    const lastX = pts.length === 1 ? W - R : x(t1);
    const firstX = pts.length === 1 ? L : x(t0);
    nodes.push(svg("path", { d: `${path} L${lastX},${y(lo)} L${firstX},${y(lo)} Z`, fill: `url(#${id}-fill)` }));
    nodes.push(svg("path", { d: path, class: "line", stroke: color }));
    const when = svg("text", { x: W - R, y: H - 6, "text-anchor": "end", class: "axis" });
    when.textContent = "last " + ago(t0);
    nodes.push(when);
    root.replaceChildren(...nodes);
  }

  function renderStats(s, health) {
    setValue("hit-ratio", s.hitRatio, fmtPct(s.hitRatio));
    const net = s.netUsd;
    setValue("net-usd", net == null ? "" : net, fmtUsd(net), net == null ? "" : net >= 0 ? "pos" : "neg");
    $("saved-usd-hint").textContent = s.savedUsd == null
      ? "no pricing configured for these models"
      : "saved " + fmtUsd(s.savedUsd) + " before write and storage spend";
    setValue("calls", s.calls, fmtInt(s.calls));
    $("hits-hint").textContent = s.hits == null ? "\u00a0" : fmtInt(s.hits) + " hits";
    setValue("plans", health.plansCreated, fmtInt(health.plansCreated));
    $("uptime").textContent = "up " + ago(Date.now() - health.uptimeSeconds * 1000) + " · v" + health.version;
    setValue("read-tokens", s.readTokens, fmtInt(s.readTokens));
    setValue("write-tokens", s.writeTokens, fmtInt(s.writeTokens));
    setValue("uncached-tokens", s.uncachedTokens, fmtInt(s.uncachedTokens));
    const total = s.readTokens + s.writeTokens + s.uncachedTokens;
    const bar = $("token-bar").children;
    [s.readTokens, s.writeTokens, s.uncachedTokens].forEach((v, i) => {
      bar[i].style.width = total > 0 ? ((100 * v) / total).toFixed(2) + "%" : "0";
    });
    const top = [...s.prefixes].sort((a, b) => b.calls - a.calls || b.readTokens - a.readTokens).slice(0, 8);
    fillTable("prefixes", top.map((p) => [
      codeCell(p.prefixKey),
      cell(fmtInt(p.calls), "n"),
      cell(fmtPct(p.hitRatio), "n"),
      cell(fmtInt(p.readTokens), "n"),
      cell(p.netUsd == null ? "n/a" : fmtUsd(p.netUsd), "n"),
    ]), 5, "no usage recorded yet");
  }

  function renderHistory(h) {
    const samples = h.samples || [];
    lineChart("chart-hit", samples.map((p) => ({ t: p.t, y: p.hitRatio })), "#34d399", fmtPct, 1);
    lineChart("chart-net", samples.map((p) => ({ t: p.t, y: p.netUsd })), "#38bdf8", (v) => fmtUsd(v));
  }

  function renderSchedule(s) {
    fillTable("schedule", s.slice(0, 8).map((e) => [
      codeCell(e.prefixKey),
      cell(e.provider + " / " + e.model),
      cell(String(typeof e.ttl === "number" ? e.ttl + " s" : e.ttl)),
      cell(ago(e.refreshAt), "n"),
    ]), 4, "nothing due");
  }

  function renderDrifts(d) {
    const rows = [...d.drifts].reverse().slice(0, 8);
    fillTable("drifts", rows.map((r) => [
      cell(ago(r.timestamp) + " ago"),
      cell(r.agentId || r.lineage || "–"),
      cell(r.changedSegmentIds.join(", ")),
      cell(fmtInt(r.invalidatedTokens), "n"),
    ]), 4, "no drift detected");
  }

  function renderRuns(page) {
    if (!page) {
      fillTable("runs", [], 5, "no ledger attached (start with --ledger)");
      return;
    }
    fillTable("runs", page.items.map((r) => [
      codeCell(r.runId),
      cell(r.agentId || "–"),
      pillCell(r.status, r.status),
      cell(r.costUsd == null ? "–" : fmtUsd(r.costUsd), "n"),
      pillCell(r.authRisk ? "at risk" : "", "risk"),
    ]), 5, "no runs yet");
  }

  function status(ok, text) {
    $("status-dot").className = "dot " + (ok ? "ok" : "err");
    $("status-text").textContent = text;
  }

  async function refresh() {
    try {
      const [health, stats, history, schedule, drifts] = await Promise.all([
        get("/healthz"), get("/stats"), get("/stats/history"), get("/schedule"), get("/drifts?limit=50"),
      ]);
      renderStats(stats, health);
      renderHistory(history);
      renderSchedule(schedule);
      renderDrifts(drifts);
      renderRuns(health.ledger ? await get("/ledger/runs?limit=8") : null);
      $("token-form").classList.add("hidden");
      status(true, "live · updated " + new Date().toLocaleTimeString());
      document.body.dataset.loaded = "true";
    } catch (err) {
      if (err.auth) {
        $("token-form").classList.remove("hidden");
        status(false, "token required");
      } else {
        status(false, "server unreachable");
      }
    }
  }

  $("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    token = $("token-input").value.trim();
    sessionStorage.setItem("racs-token", token);
    refresh();
  });
  $("interval").textContent = String(INTERVAL_MS / 1000);
  refresh();
  timer = setInterval(refresh, INTERVAL_MS);
  window.addEventListener("beforeunload", () => clearInterval(timer));
})();
