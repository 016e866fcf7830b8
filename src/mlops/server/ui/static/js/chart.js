// Charts drawn as SVG: overlaid line series and scatter plots, with axes, a legend and a hover
// read-out. Every series is one <path class="series"> (or a <g class="series"> of dots) whose
// data-points attribute says how many points it drew.

import { formatNumber, h, svg } from "./dom.js";

export const PALETTE = [
  "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
  "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
];

export const color = (i) => PALETTE[i % PALETTE.length];

const MARGIN = { top: 12, right: 16, bottom: 40, left: 64 };

function niceStep(span, count) {
  const raw = span / Math.max(count, 1);
  const power = 10 ** Math.floor(Math.log10(raw));
  const scaled = raw / power;
  return (scaled >= 5 ? 10 : scaled >= 2 ? 5 : scaled >= 1 ? 2 : 1) * power;
}

export function ticks(min, max, count = 6) {
  if (!(max > min)) return [min];
  const step = niceStep(max - min, count);
  const out = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) {
    out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  }
  return out;
}

function extent(values) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (lo === Infinity) return [0, 1];
  if (lo === hi) return [lo - (Math.abs(lo) || 1) * 0.05, hi + (Math.abs(hi) || 1) * 0.05];
  const pad = (hi - lo) * 0.04;
  return [lo - pad, hi + pad];
}

const finite = (v) => typeof v === "number" && Number.isFinite(v);

function frame({ width, height, xs, ys, xLabel, yLabel, xCategories }) {
  const innerW = width - MARGIN.left - MARGIN.right;
  const innerH = height - MARGIN.top - MARGIN.bottom;
  const [x0, x1] = xCategories ? [-0.5, xCategories.length - 0.5] : extent(xs);
  const [y0, y1] = extent(ys);
  const sx = (x) => MARGIN.left + ((x - x0) / (x1 - x0)) * innerW;
  const sy = (y) => MARGIN.top + innerH - ((y - y0) / (y1 - y0)) * innerH;
  const axes = svg("g", { class: "axes" });
  const xTicks = xCategories ? xCategories.map((_, i) => i) : ticks(x0, x1, Math.max(2, Math.floor(innerW / 90)));
  for (const t of xTicks) {
    const x = sx(t);
    axes.append(
      svg("line", { class: "grid", x1: x, x2: x, y1: MARGIN.top, y2: MARGIN.top + innerH }),
      svg("text", { class: "tick", x, y: MARGIN.top + innerH + 16, "text-anchor": "middle" },
        xCategories ? String(xCategories[t]).slice(0, 12) : formatNumber(t)),
    );
  }
  for (const t of ticks(y0, y1, Math.max(2, Math.floor(innerH / 50)))) {
    const y = sy(t);
    axes.append(
      svg("line", { class: "grid", x1: MARGIN.left, x2: MARGIN.left + innerW, y1: y, y2: y }),
      svg("text", { class: "tick", x: MARGIN.left - 8, y: y + 4, "text-anchor": "end" }, formatNumber(t)),
    );
  }
  axes.append(
    svg("rect", { class: "plot-border", x: MARGIN.left, y: MARGIN.top, width: innerW, height: innerH, fill: "none" }),
    svg("text", { class: "axis-label", x: MARGIN.left + innerW / 2, y: height - 6, "text-anchor": "middle" }, xLabel),
    svg("text", {
      class: "axis-label", x: 14, y: MARGIN.top + innerH / 2, "text-anchor": "middle",
      transform: `rotate(-90 14 ${MARGIN.top + innerH / 2})`,
    }, yLabel),
  );
  const root = svg("svg", {
    class: "chart", viewBox: `0 0 ${width} ${height}`, width: "100%", preserveAspectRatio: "xMidYMid meet",
    role: "img", "aria-label": `${yLabel} by ${xLabel}`,
  }, axes);
  return { root, sx, sy, innerW, innerH };
}

function legend(series) {
  return h("ul.legend", {}, series.map((s) =>
    h("li", {}, h("span.swatch", { style: `background:${s.color}` }), h("span", { title: s.title || s.name }, s.name))));
}

// series: [{name, color, xs: number[], ys: number[]}] drawn as lines over a shared x axis.
export function lineChart(series, { xLabel = "step", yLabel = "", width = 720, height = 320 } = {}) {
  const allX = [];
  const allY = [];
  for (const s of series) {
    s.xs.forEach((x, i) => {
      if (finite(s.ys[i])) {
        allX.push(x);
        allY.push(s.ys[i]);
      }
    });
  }
  const f = frame({ width, height, xs: allX, ys: allY, xLabel, yLabel });
  const plot = svg("g", { class: "plot" });
  for (const s of series) {
    let d = "";
    let drawn = 0;
    let pen = "M";
    s.xs.forEach((x, i) => {
      const y = s.ys[i];
      if (!finite(y)) {
        pen = "M"; // a NaN breaks the line
        return;
      }
      d += `${pen}${f.sx(x).toFixed(1)},${f.sy(y).toFixed(1)}`;
      pen = "L";
      drawn += 1;
    });
    plot.append(svg("path", {
      class: "series", d, stroke: s.color, fill: "none", "data-points": drawn, "data-name": s.name,
    }));
    if (drawn === 1) {
      const i = s.ys.findIndex(finite);
      plot.append(svg("circle", { cx: f.sx(s.xs[i]), cy: f.sy(s.ys[i]), r: 3, fill: s.color }));
    }
  }
  f.root.append(plot);
  const wrap = h("div.chart-wrap", {}, f.root, legend(series));
  hover(wrap, f, series);
  return wrap;
}

// The value of each series at the step nearest the pointer, in a small floating box.
function hover(wrap, f, series) {
  const tip = h("div.tip", { hidden: true });
  const rule = svg("line", { class: "hover-rule", y1: MARGIN.top, y2: MARGIN.top + f.innerH, visibility: "hidden" });
  f.root.append(rule);
  wrap.append(tip);
  f.root.addEventListener("mousemove", (event) => {
    const box = f.root.getBoundingClientRect();
    const scale = f.root.viewBox.baseVal.width / box.width;
    const px = (event.clientX - box.left) * scale;
    let best = null;
    const rows = [];
    for (const s of series) {
      if (!s.xs.length) continue;
      let lo = 0;
      let hi = s.xs.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (f.sx(s.xs[mid]) < px) lo = mid + 1;
        else hi = mid;
      }
      if (lo > 0 && Math.abs(f.sx(s.xs[lo - 1]) - px) < Math.abs(f.sx(s.xs[lo]) - px)) lo -= 1;
      if (best === null || Math.abs(f.sx(s.xs[lo]) - px) < Math.abs(f.sx(best) - px)) best = s.xs[lo];
      rows.push(h("div", {}, h("span.swatch", { style: `background:${s.color}` }), `${s.name}: `, h("b", {}, formatNumber(s.ys[lo]))));
    }
    if (best === null) return;
    rule.setAttribute("x1", f.sx(best));
    rule.setAttribute("x2", f.sx(best));
    rule.setAttribute("visibility", "visible");
    tip.replaceChildren(h("div.tip-head", {}, `step ${formatNumber(best)}`), ...rows);
    tip.hidden = false;
    tip.style.left = `${Math.min(event.clientX - wrap.getBoundingClientRect().left + 14, wrap.clientWidth - 220)}px`;
    tip.style.top = `${event.clientY - wrap.getBoundingClientRect().top + 10}px`;
  });
  f.root.addEventListener("mouseleave", () => {
    tip.hidden = true;
    rule.setAttribute("visibility", "hidden");
  });
}

// points: [{x, y, color, label}]; x may be categorical (strings), then drawn at evenly spaced ticks.
export function scatterChart(points, { xLabel = "", yLabel = "", width = 720, height = 320 } = {}) {
  const usable = points.filter((p) => finite(p.y) && p.x !== undefined && p.x !== null);
  const numeric = usable.every((p) => finite(Number(p.x)) && String(p.x).trim() !== "");
  let xCategories = null;
  let xOf = (p) => Number(p.x);
  if (!numeric) {
    xCategories = [...new Set(usable.map((p) => String(p.x)))].sort();
    xOf = (p) => xCategories.indexOf(String(p.x));
  }
  const f = frame({ width, height, xs: usable.map(xOf), ys: usable.map((p) => p.y), xLabel, yLabel, xCategories });
  const dots = svg("g", { class: "series scatter", "data-points": usable.length });
  for (const p of usable) {
    dots.append(svg("circle", { cx: f.sx(xOf(p)), cy: f.sy(p.y), r: 5, fill: p.color, stroke: "#fff" },
      svg("title", {}, `${p.label}\n${xLabel} = ${p.x}\n${yLabel} = ${formatNumber(p.y)}`)));
  }
  f.root.append(dots);
  return h("div.chart-wrap", {}, f.root);
}
