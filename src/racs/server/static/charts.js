// racs dashboard charts: plain SVG, UTC time axes, no library and no network.
// Every label is set with textContent; data never becomes markup.
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const HOUR = 3600e3, DAY = 24 * HOUR;
  const MIN = 60e3;
  const TICK_STEPS = [MIN, 2 * MIN, 5 * MIN, 10 * MIN, 15 * MIN, 30 * MIN, HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY, 14 * DAY, 30 * DAY, 91 * DAY, 365 * DAY];
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const nf = new Intl.NumberFormat("en-US");
  const cf = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });

  const pad = (n) => String(n).padStart(2, "0");
  const day = (ms) => { const d = new Date(ms); return MONTHS[d.getUTCMonth()] + " " + d.getUTCDate(); };
  const hm = (ms) => { const d = new Date(ms); return pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()); };
  const when = (ms) => day(ms) + " " + hm(ms);
  const year = (ms) => new Date(ms).getUTCFullYear();

  const fmt = {
    int: (n) => (n == null ? "–" : nf.format(Math.round(n))),
    pct: (r) => (r == null ? "–" : (r * 100).toFixed(1) + "%"),
    // Dollars to the cent; amounts under a dollar keep four decimals so small findings read.
    usd: (v) => (v == null ? "n/a" : (v < 0 ? "-$" : "$") + Math.abs(v).toFixed(Math.abs(v) >= 1 || v === 0 ? 2 : 4)),
    cents: (v) => (v == null ? "n/a" : (v < 0 ? "-$" : "$") + cf.format(Math.abs(v))),
    tokens: (n) => {
      if (n == null) return "–";
      const a = Math.abs(n);
      if (a >= 1e9) return (n / 1e9).toFixed(a >= 1e10 ? 0 : 1) + "B";
      if (a >= 1e6) return (n / 1e6).toFixed(a >= 1e7 ? 0 : 1) + "M";
      if (a >= 1e3) return (n / 1e3).toFixed(a >= 1e4 ? 0 : 1) + "k";
      return String(Math.round(n));
    },
    seconds: (s) => {
      if (s == null) return "–";
      if (s < 90) return Math.round(s) + " s";
      if (s < 5400) return Math.round(s / 60) + " min";
      if (s < 172800) return (s / 3600).toFixed(1) + " h";
      return Math.round(s / 86400) + " d";
    },
    day, hm, when,
    span: (a, b) => {
      if (a == null) return "–";
      if (b == null || b - a < 60e3) return when(a);
      return day(a) === day(b) ? when(a) + "–" + hm(b) : when(a) + " – " + when(b);
    },
    range: (a, b) => {
      if (a == null || b == null) return "";
      const y = year(a) === year(b - 1) ? " " + year(a) : "";
      return when(a) + " – " + when(b) + y + " UTC";
    },
  };

  function el(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text != null) e.textContent = text;
    return e;
  }

  function titled(node, text) {
    node.appendChild(el("title", null, text));
    return node;
  }

  function empty(svg, text) {
    const [, , W, H] = svg.getAttribute("viewBox").split(" ").map(Number);
    svg.replaceChildren(el("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "empty" }, text));
  }

  // Nice y-axis maximum and step for a data maximum.
  function niceMax(hi) {
    if (!(hi > 0)) return { max: 1, step: 0.25 };
    const raw = hi / 4;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || 10 * mag;
    return { max: step * Math.ceil(hi / step), step };
  }

  function timeTicks(start, end, maxTicks) {
    const years = Math.ceil((end - start) / (maxTicks * 365 * DAY));
    const step = TICK_STEPS.find((s) => (end - start) / s <= maxTicks) || years * 365 * DAY;
    const ticks = [];
    let t = Math.ceil(start / step) * step;
    if (step >= 7 * DAY) t = Math.ceil(start / DAY) * DAY;
    for (; t <= end && ticks.length < 200; t += step) ticks.push(t);
    return { step, ticks };
  }

  // A chart frame: y grid with labels, UTC time ticks; returns the scales.
  function frame(svg, o) {
    const [, , W, H] = svg.getAttribute("viewBox").split(" ").map(Number);
    const spark = !!o.spark;
    const L = spark ? 2 : o.left || 56, R = spark ? 2 : 12, T = spark ? 4 : 12, B = spark ? 4 : 34;
    const nodes = [];
    const { max, step } = o.fixedMax != null ? { max: o.fixedMax, step: o.fixedMax / 4 } : niceMax(o.yMax);
    const x = (t) => L + ((t - o.start) / Math.max(1, o.end - o.start)) * (W - L - R);
    const y = (v) => T + (1 - v / max) * (H - T - B);
    for (let v = 0; v <= max + step / 2; v += step) {
      nodes.push(el("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: v === 0 ? "base-line" : "grid-line" }));
      if (!spark) nodes.push(el("text", { x: L - 8, y: y(v) + 4, "text-anchor": "end", class: "axis" }, o.yFmt(v)));
    }
    if (spark) return { nodes, x, y, W, H, L, R, T, B };
    const { step: tstep, ticks } = timeTicks(o.start, o.end, Math.max(3, Math.floor((W - L - R) / 110)));
    let lastDay = "";
    for (const t of ticks) {
      nodes.push(el("line", { x1: x(t), x2: x(t), y1: H - B, y2: H - B + 5, class: "tick" }));
      const d = day(t);
      const label = tstep >= DAY ? d : d !== lastDay ? d + " " + hm(t) : hm(t);
      lastDay = d;
      nodes.push(el("text", { x: x(t), y: H - B + 19, "text-anchor": "middle", class: "axis time-label", "data-ms": String(t) }, label));
    }
    svg.dataset.start = String(o.start);
    svg.dataset.end = String(o.end);
    return { nodes, x, y, W, H, L, R, T, B };
  }

  // Stacked bars per time bucket: points [{t, values: {key: number}}], layers [{key, color, label}].
  function stacked(svg, points, layers, o) {
    const totals = points.map((p) => layers.reduce((s, l) => s + (p.values[l.key] || 0), 0));
    const f = frame(svg, { ...o, yMax: Math.max(0, ...totals) });
    const width = Math.max(1, f.x(o.start + o.step) - f.x(o.start) - (o.step >= HOUR ? 1.5 : 0));
    points.forEach((p, i) => {
      if (!totals[i]) return;
      let acc = 0;
      const g = el("g", { class: "stack", "data-t": String(p.t), "data-total": String(totals[i]) });
      for (const l of layers) {
        const v = p.values[l.key] || 0;
        if (v <= 0) continue;
        const r = el("rect", { x: f.x(p.t), width, y: f.y(acc + v), height: Math.max(0.5, f.y(acc) - f.y(acc + v)), fill: l.color });
        g.appendChild(titled(r, fmt.span(p.t, p.t + o.step) + " · " + l.label + ": " + o.yFmt(v)));
        acc += v;
      }
      f.nodes.push(g);
    });
    svg.replaceChildren(...f.nodes);
  }

  // A line over time through the buckets that have a value (empty buckets are skipped, not
  // drawn as zero), a dot on each.
  function line(svg, points, o) {
    const vals = points.filter((p) => p.y != null);
    if (!vals.length) return empty(svg, o.emptyText || "no data in this range");
    const f = frame(svg, { ...o, yMax: Math.max(...vals.map((p) => p.y)) });
    const half = (o.step || 0) / 2;
    const d = vals.map((p, i) => (i ? "L" : "M") + f.x(p.t + half).toFixed(1) + "," + f.y(p.y).toFixed(1)).join("");
    f.nodes.push(el("path", { d, class: "line", stroke: o.color }));
    if (!o.spark) {
      for (const p of vals) {
        const tip = (o.step ? fmt.span(p.t, p.t + o.step) : fmt.when(p.t)) + ": " + o.yFmt(p.y);
        f.nodes.push(titled(el("circle", { cx: f.x(p.t + half), cy: f.y(p.y), r: vals.length > 60 ? 2 : 3, fill: o.color, class: "point" }), tip));
      }
    }
    svg.replaceChildren(...f.nodes);
  }

  // A histogram over labelled bins with vertical markers at some bin edges.
  function histogram(svg, bins, o) {
    const [, , W, H] = svg.getAttribute("viewBox").split(" ").map(Number);
    const L = 48, R = 12, T = 22, B = 34;
    const { max, step } = niceMax(Math.max(...bins.map((b) => b.value)));
    const bw = (W - L - R) / bins.length;
    const y = (v) => T + (1 - v / max) * (H - T - B);
    const nodes = [];
    for (let v = 0; v <= max + step / 2; v += step) {
      nodes.push(el("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: v === 0 ? "base-line" : "grid-line" }));
      nodes.push(el("text", { x: L - 8, y: y(v) + 4, "text-anchor": "end", class: "axis" }, fmt.int(v)));
    }
    bins.forEach((b, i) => {
      const r = el("rect", { x: L + i * bw + 3, width: bw - 6, y: y(b.value), height: Math.max(0, y(0) - y(b.value)), fill: b.color, class: "bin" });
      nodes.push(titled(r, b.label + ": " + fmt.int(b.value) + " gaps" + (b.extra ? " · " + b.extra : "")));
      nodes.push(el("text", { x: L + (i + 0.5) * bw, y: H - B + 19, "text-anchor": "middle", class: "axis" }, b.label));
    });
    for (const m of o.markers || []) {
      const xm = L + m.at * bw;
      nodes.push(el("line", { x1: xm, x2: xm, y1: T - 10, y2: H - B, class: "marker" }));
      nodes.push(el("text", { x: xm + 4, y: T - 2, class: "marker-label" }, m.label));
    }
    svg.replaceChildren(...nodes);
  }

  // One bar per request at its time: stacked read / written / fresh tokens.
  function requestBars(svg, reqs, layers, o) {
    if (!reqs.length) return empty(svg, "no requests");
    const f = frame(svg, { ...o, yMax: Math.max(...reqs.map((r) => r.input)) });
    const plotW = f.W - f.L - f.R;
    const width = Math.max(1.5, Math.min(10, (plotW / reqs.length) * 0.7));
    for (const r of reqs) {
      let acc = 0;
      const g = el("g", { class: "req", "data-t": String(r.t), "data-input": String(r.input) });
      const tip = fmt.when(r.t) + " · " + r.model + (r.agent && r.agent !== "(main)" ? " · " + r.agent : "") +
        "\nprompt " + fmt.int(r.input) + " tokens: read " + fmt.int(r.read) + ", written " + fmt.int(r.written) + ", uncached " + fmt.int(r.fresh) +
        "\noutput " + fmt.int(r.output) + (r.gapSeconds != null ? " · gap " + fmt.seconds(r.gapSeconds) : "");
      for (const l of layers) {
        const v = r[l.key] || 0;
        if (v <= 0) continue;
        g.appendChild(titled(el("rect", { x: f.x(r.t) - width / 2, width, y: f.y(acc + v), height: Math.max(0.5, f.y(acc) - f.y(acc + v)), fill: l.color }), tip));
        acc += v;
      }
      f.nodes.push(g);
    }
    svg.replaceChildren(...f.nodes);
  }

  // Gaps on a log axis with a line per cache lifetime; points past a lifetime stand out.
  function gapScatter(svg, reqs, lifetimes, o) {
    const pts = reqs.filter((r) => r.gapSeconds != null && r.gapSeconds > 0);
    if (!pts.length) return empty(svg, "no gaps: every stream has a single request");
    const [, , W, H] = svg.getAttribute("viewBox").split(" ").map(Number);
    const L = 56, R = 12, T = 12, B = 34;
    const top = Math.max(7200, ...pts.map((p) => p.gapSeconds)) * 1.2;
    const lo = 1, lmax = Math.log10(top);
    const y = (s) => T + (1 - Math.log10(Math.max(lo, s)) / lmax) * (H - T - B);
    const f = frame(svg, { ...o, fixedMax: 1, yFmt: () => "" });
    const nodes = f.nodes.filter((n) => !(n.tagName === "line" && n.getAttribute("class") === "grid-line") && !(n.tagName === "text" && n.textContent === ""));
    for (const [s, label] of [[1, "1 s"], [10, "10 s"], [60, "1 min"], [600, "10 min"], [3600, "1 h"], [36000, "10 h"], [86400 * 7, "1 wk"]]) {
      if (s > top) break;
      nodes.push(el("line", { x1: L, x2: W - R, y1: y(s), y2: y(s), class: "grid-line" }));
      nodes.push(el("text", { x: L - 8, y: y(s) + 4, "text-anchor": "end", class: "axis" }, label));
    }
    for (const lt of lifetimes) {
      nodes.push(el("line", { x1: L, x2: W - R, y1: y(lt.seconds), y2: y(lt.seconds), class: "ttl-line" }));
      nodes.push(el("text", { x: W - R - 4, y: y(lt.seconds) - 5, "text-anchor": "end", class: "marker-label" }, lt.tier + " lifetime"));
    }
    const shortest = lifetimes.length ? lifetimes[0].seconds : Infinity;
    const longest = lifetimes.length ? lifetimes[lifetimes.length - 1].seconds : Infinity;
    for (const p of pts) {
      const cls = p.gapSeconds > longest ? "gap-dot past-all" : p.gapSeconds > shortest ? "gap-dot past-short" : "gap-dot";
      nodes.push(titled(el("circle", { cx: f.x(p.t), cy: y(p.gapSeconds), r: 3.5, class: cls }), fmt.when(p.t) + " · " + p.stream + "\ngap " + fmt.seconds(p.gapSeconds) + " · read " + fmt.int(p.read) + ", written " + fmt.int(p.written)));
    }
    svg.replaceChildren(...nodes);
  }

  function legend(container, layers) {
    const items = layers.map((l) => {
      const span = document.createElement("span");
      span.className = "lg";
      const sw = document.createElement("i");
      sw.className = "sw " + (l.cls || "");
      sw.style.background = l.color;
      span.append(sw, document.createTextNode(l.label));
      return span;
    });
    container.replaceChildren(...items);
  }

  window.RacsCharts = { fmt, stacked, line, histogram, requestBars, gapScatter, legend, empty, HOUR, DAY };
})();
