// The network as an SVG: units as circles in one column per layer, an edge per weight, a tag
// per bias, and the loss as a box on the right. Built once per (recorded step, example);
// `apply` then highlights what the current step uses and shows the values computed so far.

const FONT = 14; // value labels, in SVG units (CSS px at 100 %): .cr-svg's font size
const MAX_UNITS_DRAWN = 12; // a wider layer shows its first 10 units, "⋮", and its last
const MAX_WIDEN = 12; // times the columns may widen to find every edge label a free place

function drawnUnits(size) {
  const all = Array.from({ length: size }, (_, j) => j);
  return size <= MAX_UNITS_DRAWN ? all : [...all.slice(0, 10), null, size - 1]; // null: ⋮
}

// `widen` spreads the columns when the labels of the edges between them found no free place.
function diagramLayout(ctx, view, measure, widen) {
  const columns = view.sizes.map(drawnUnits);
  const slots = Math.max(...columns.map((c) => c.length));
  const labelled = slots <= 6; // room for every value next to its unit
  const s = labelled ? 150 : Math.max(24, Math.min(60, 560 / slots));
  const r = labelled ? 22 : Math.max(7, Math.min(16, s * 0.3));
  const colW = (labelled ? 230 : 170) * (1 + 0.2 * widen);
  const top = view.sharedBias ? 84 : 60;
  const ex = view.ex();
  // The input column's labels (a⁰ = …) are centred on it: room for half the widest.
  const inputs = labelled ? view.a(0).map((v, j) => measure(quantity("a", 0, [j], ex) + " = " +
    ctx.fmt(v), "cr-label cr-a").w) : [];
  const left = Math.max(labelled ? 80 : 40, ...inputs.map((w) => w / 2 + 12));
  const outLabel = labelled ? 24 + Math.max(...view.dEda().map((v, j) => measure("∂E/∂" +
    quantity("a", view.depth, [j], ex) + " = " + ctx.fmt(v), "cr-label cr-dEda").w)) : 30;
  const lossSize = labelled ? FONT : 12;
  const lossW = Math.max(measure(view.net.loss + ", mean", "cr-col-sub").w,
    measure(ctx.fmt(view.rec.forward.loss), "cr-label cr-loss", lossSize).w) + 20;
  const xOf = (l) => left + l * colW;
  const yOf = (count, k) => top + s * (k + (slots - count) / 2) + s / 2;
  const lossX = xOf(view.depth) + r + outLabel;
  return { columns, slots, labelled, s, r, colW, top, xOf, yOf, lossX, lossW, lossSize,
    width: lossX + lossW + 10, height: top + s * slots + 10 };
}

// The diagram for one (recorded step, example), drawn into a zooming region; `host` (in the
// document) lends a probe to measure text as the browser draws it.
function buildDiagram(ctx, view, onSelect, host) {
  const measure = measurer(host);
  let drawn;
  for (let widen = 0; !drawn || (drawn.unplaced && widen <= MAX_WIDEN); widen++) {
    drawn = drawDiagram(ctx, view, measure, widen, widen === MAX_WIDEN);
  }
  measure.done();
  const { root, d, geometry } = drawn;
  const viewport = diagramViewport(root, drawn.lay, geometry, onSelect);
  return {
    node: viewport.node,
    mount: viewport.mount,
    apply: (step, reached) => applyStep(root, d, step, reached),
    select(key) {
      for (const n of root.querySelectorAll("[data-param], [data-label-for]")) {
        const own = n.getAttribute("data-param") || n.getAttribute("data-label-for");
        n.classList.toggle("is-selected", own === key);
      }
    },
  };
}

// One attempt at the drawing; `unplaced` counts the edge labels that found no free place (on
// the last attempt, `force`, each goes where it overlaps least: a label is never dropped).
function drawDiagram(ctx, view, measure, widen, force) {
  const lay = diagramLayout(ctx, view, measure, widen);
  const d = drawing(measure);
  const pos = lay.columns.map((col, l) => col.map((j, k) => ({ j, x: lay.xOf(l),
    y: lay.yOf(col.length, k) })));
  const titles = lay.columns.flatMap((_, l) => [
    d.text(lay.xOf(l), 22, l === 0 ? "Input" : l === view.depth ? "Output (layer " + l + ")"
      : "Layer " + l, "cr-col-title"),
    d.text(lay.xOf(l), 40, l ? view.activation(l) : view.sizes[0] + " units", "cr-col-sub")]);
  // Units, their labels and the loss first: edge labels then go where they overlap nothing.
  const [units, labels] = drawUnits(ctx, view, lay, pos, d);
  const loss = lossNode(ctx, view, lay, pos[view.depth], d);
  const [edges, edgeLabels, geometry] = drawEdges(ctx, view, lay, pos, d, force);
  geometry.units = pos.flat().filter((p) => p.j !== null).map((p) => ({ x: p.x, y: p.y,
    r: lay.r }));
  const root = svg("svg", { viewBox: "0 0 " + lay.width + " " + lay.height, class: "cr-svg",
    role: "group", "aria-label": "Network diagram, " + view.sizes.join("-") + ". Edges and " +
      "bias tags are buttons that show their chain rule." },
  titles, edges, loss, units, labels, edgeLabels);
  return { root, d, lay, geometry, unplaced: d.unplaced };
}

// What a diagram records while it is drawn: the parts a step may highlight, the value labels
// it may hide, and the areas (measured) that labels and nodes occupy.
function drawing(measure) {
  const d = { parts: [], texts: [], boxes: [], unplaced: 0, measure };
  d.box = (x0, x1, y0, y1) => d.boxes.push({ x0, x1, y0, y1 });
  d.text = (x, y, text, cls, anchor = "middle", size = null) => {
    const m = measure(text, cls, size), x0 = anchor === "middle" ? x - m.w / 2 : x;
    d.box(x0 - 1, x0 + m.w + 1, y + m.top - 1, y + m.bottom + 1);
    return svg("text", { x, y, class: cls, "text-anchor": anchor, "font-size": size }, text);
  };
  d.label = (x, y, text, kind, layer, anchor = "middle") => {
    const node = d.text(x, y, text, "cr-label cr-" + kind, anchor);
    d.texts.push({ node, kind, layer });
    return node;
  };
  return d;
}

// Circles, with the bias tag and z above each and a and δ below.
function drawUnits(ctx, view, lay, pos, d) {
  const units = svg("g", { class: "cr-units" }), labels = svg("g", { class: "cr-labels" });
  const ex = view.ex();
  for (let l = 0; l <= view.depth; l++) {
    for (const p of pos[l]) {
      if (p.j === null) {
        units.append(svg("text", { x: p.x, y: p.y + 6, class: "cr-more", "text-anchor": "middle" },
          "⋮ " + (view.sizes[l] - 11) + " more"));
        continue;
      }
      const g = svg("g", { class: "cr-unit", "data-unit": l + ":" + p.j },
        svg("circle", { cx: p.x, cy: p.y, r: lay.r }),
        svg("title", {}, unitTitle(ctx, view, l, p.j)));
      d.parts.push({ node: g, role: "unit", layer: l });
      d.boxes.push({ x0: p.x - lay.r, x1: p.x + lay.r, y0: p.y - lay.r, y1: p.y + lay.r });
      units.append(g);
      if (!lay.labelled) continue;
      const act = l ? view.activation(l) : null; // the diagram's short name, from the table
      const name = l ? (ctx.activations[act] || {}).unit || act : "x" + sub(p.j);
      g.append(svg("text", { x: p.x, y: p.y + 4, class: "cr-unit-name", "text-anchor": "middle" },
        name));
      const below = p.y + lay.r + 18;
      labels.append(d.label(p.x, below, quantity("a", l, [p.j], ex) + " = " +
        ctx.fmt(view.a(l)[p.j]), "a", l));
      if (!l) continue;
      labels.append(d.label(p.x, p.y - lay.r - 8, quantity("z", l, [p.j], ex) + " = " +
        ctx.fmt(view.z(l)[p.j]), "z", l));
      labels.append(d.label(p.x, below + 18, quantity("delta", l, [p.j], ex) + " = " +
        ctx.fmt(view.delta(l)[p.j]), "delta", l));
      if (view.hasBias && !view.sharedBias) {
        labels.append(biasTag(ctx, view, "b" + l, p.j, p.x, p.y - lay.r - 30, d));
      }
    }
    if (l && view.hasBias && view.sharedBias) {
      labels.append(biasTag(ctx, view, "b" + l, 0, lay.xOf(l), lay.top - 14, d));
    }
  }
  return [units, labels];
}

// One edge per weight between drawn units, its value label where it overlaps nothing; the
// edges' end points, for the click that selects the nearest.
function drawEdges(ctx, view, lay, pos, d, force) {
  const edges = svg("g", { class: "cr-edges" });
  const labels = svg("g", { class: "cr-edge-labels" }); // above every edge line
  const geometry = { edges: [] };
  const maxW = Math.max(1e-12, ...view.paramNames().filter((n) => n[0] === "W")
    .flatMap((n) => view.rec.parameters[n].flat().map(Math.abs)));
  const drawn = [];
  for (let l = 1; l <= view.depth; l++) {
    for (const src of pos[l - 1].filter((p) => p.j !== null)) {
      for (const dst of pos[l].filter((p) => p.j !== null)) {
        const key = elementKey("W" + l, [src.j, dst.j]);
        const g = edge(ctx, view, key, src, dst, maxW);
        d.parts.push({ node: g, role: "edge", layer: l });
        edges.append(g);
        geometry.edges.push({ key, a: { x: src.x, y: src.y }, b: { x: dst.x, y: dst.y } });
        drawn.push({ key, g, src, dst, l });
      }
    }
  }
  // Every line is known before the first label is placed, so each can keep off all of them.
  for (const { key, g, src, dst, l } of lay.labelled ? drawn : []) {
    const others = geometry.edges.filter((e) => e.key !== key);
    const text = placeEdgeLabel(ctx, view, key, src, dst, lay.r, d, others, force);
    if (!text) continue;
    text.classList.add(g.classList[1]); // the sign class (cr-pos, cr-neg), for its colour
    d.parts.push({ node: text, role: "edge", layer: l });
    labels.append(text);
  }
  return [edges, labels, geometry];
}

// Highlight what the step uses, fade the rest, and show only values computed by now.
function applyStep(root, d, step, reached) {
  const h = step.highlight;
  const uses = { unit: h.units, edge: h.edges, bias: h.biases };
  root.classList.add("cr-stepping");
  for (const p of d.parts) {
    const on = p.role === "loss" ? Boolean(h.loss) : (uses[p.role] || []).includes(p.layer);
    p.node.classList.toggle("is-active", on);
  }
  for (const t of d.texts) {
    const key = { a: "a" + t.layer, z: "z" + t.layer, delta: "delta" + t.layer, dEda: "dEda",
      loss: "loss" }[t.kind]; // targets and the like are known from the start
    t.node.classList.toggle("is-hidden", Boolean(key) && !reached(key));
    const emph = h.labels && h.labels[0] === t.kind && h.labels[1] === t.layer;
    t.node.classList.toggle("is-emph", Boolean(emph));
  }
}

function unitTitle(ctx, view, l, j) {
  const ex = view.ex(), a = quantity("a", l, [j], ex) + " = " + ctx.fmt(view.a(l)[j]);
  if (!l) return "Input unit " + (j + 1) + ": " + a;
  return "Layer " + l + " unit " + (j + 1) + ": " + quantity("z", l, [j], ex) + " = " +
    ctx.fmt(view.z(l)[j]) + ", " + a;
}

function biasTag(ctx, view, name, j, x, y, d) {
  const key = elementKey(name, [j]);
  const text = (view.sharedBias ? "shared " : "+ ") + view.paramSymbol(key) + " = " +
    ctx.fmt(view.element("parameters", key));
  const w = d.measure(text, "cr-bias").w + 12;
  const g = svg("g", { class: "cr-bias", "data-param": key, tabindex: 0, role: "button",
    "aria-label": "bias " + text.replace(/^\+ |^shared /, "") + ", show its chain rule" },
  svg("title", {}, "Bias " + key + ": " + text + ". Click for its chain rule."),
  svg("rect", { x: x - w / 2, y: y - 14, width: w, height: 21, rx: 4 }),
  svg("text", { x, y: y + 1, "text-anchor": "middle" }, text));
  d.parts.push({ node: g, role: "bias", layer: Number(name.slice(1)) });
  d.box(x - w / 2, x + w / 2, y - 14, y + 7);
  return g;
}

function edge(ctx, view, key, src, dst, maxW) {
  const w = view.element("parameters", key);
  const sign = w > 0 ? "pos" : w < 0 ? "neg" : "zero";
  const width = 1 + 4 * Math.abs(w) / maxW;
  const line = (cls, extra) => svg("line", { x1: src.x, y1: src.y, x2: dst.x, y2: dst.y,
    class: cls, "stroke-width": width + extra });
  const text = view.paramSymbol(key) + " = " + ctx.fmt(w);
  return svg("g", { class: "cr-edge cr-" + sign, "data-param": key, tabindex: 0,
    role: "button", "aria-label": "weight " + text + ", show its chain rule" },
  svg("title", {}, "Weight " + key + ": " + text + ". Click for its chain rule."),
  line("cr-halo", 5), line("cr-line", 0), hitArea(src, dst, 7));
}

// A band around the edge that takes the clicks: easier to hit than a thin line, and it gives
// a horizontal edge a box with height (a line's box has none, so it would count as hidden).
function hitArea(src, dst, half) {
  const dx = dst.x - src.x, dy = dst.y - src.y, length = Math.hypot(dx, dy) || 1;
  const nx = (-dy / length) * half, ny = (dx / length) * half;
  const points = [[src.x + nx, src.y + ny], [dst.x + nx, dst.y + ny], [dst.x - nx, dst.y - ny],
    [src.x - nx, src.y - ny]];
  return svg("polygon", { class: "cr-hit", points: points.map((p) => p.join(",")).join(" ") });
}

// Try points along the edge, the label just above the line (then below), and keep the first
// whose measured box overlaps no other label and no node, and crosses no other edge's line;
// failing that, the free one that crosses fewest lines (legible on its white halo). Not the
// midpoint: crossing edges meet there, and it stays free to click. A label with no free place
// is counted in `d.unplaced` (the columns then widen); with `force` it goes where it overlaps
// least instead: a label is never dropped.
const LABEL_AT = [0.4, 0.6, 0.3, 0.7, 0.35, 0.65, 0.25, 0.75, 0.2, 0.8, 0.15, 0.85, 0.45, 0.55];

function placeEdgeLabel(ctx, view, key, src, dst, r, d, others, force) {
  const text = ctx.fmt(view.element("parameters", key));
  const m = d.measure(text, "cr-edge-label", FONT), h = m.bottom - m.top;
  const x0 = src.x + r, x1 = dst.x - r;
  let best = null;
  for (const t of LABEL_AT) {
    for (const side of [-1, 1]) {
      const x = x0 + t * (x1 - x0);
      const y = src.y + ((x - src.x) / (dst.x - src.x)) * (dst.y - src.y) + side * (h / 2 + 3);
      const box = { x0: x - m.w / 2 - 2, x1: x + m.w / 2 + 2, y0: y - h / 2 - 1,
        y1: y + h / 2 + 1 };
      const clash = d.boxes.filter((b) => overlaps(b, box)).length;
      const crossed = others.filter((e) => segmentCrosses(e.a, e.b, box)).length;
      const cost = clash * 1000 + crossed;
      if (!best || cost < best.cost) best = { x, y, box, clash, crossed, cost };
    }
    if (best.cost === 0) break;
  }
  if (best.clash && !force) {
    d.unplaced += 1;
    return null;
  }
  d.boxes.push(best.box);
  return svg("text", { x: best.x, y: best.y - (m.top + m.bottom) / 2, class: "cr-edge-label",
    "text-anchor": "middle", "font-size": FONT, "data-label-for": key }, text);
}

// The loss box, right of the outputs, joined to each by a line labelled with its target
// and, once the backward pass starts, with ∂E/∂a.
function lossNode(ctx, view, lay, outputs, d) {
  const L = view.depth, t = view.target().vector, ex = view.ex();
  const drawn = outputs.filter((p) => p.j !== null);
  const cy = (Math.min(...drawn.map((p) => p.y)) + Math.max(...drawn.map((p) => p.y))) / 2;
  const cx = lay.lossX + lay.lossW / 2, height = lay.labelled ? 78 : 60;
  const g = svg("g", { class: "cr-loss" });
  d.box(lay.lossX, lay.lossX + lay.lossW, cy - height / 2, cy + height / 2);
  for (const p of drawn) { // along the unit's row, then a short bend into the box
    const bend = lay.lossX - (lay.labelled ? 24 : 12);
    g.append(svg("polyline", { class: "cr-loss-line", points: (p.x + lay.r) + "," + p.y + " " +
      bend + "," + p.y + " " + lay.lossX + "," + cy }));
    if (!lay.labelled) continue;
    g.append(d.label(p.x + lay.r + 8, p.y - 6, quantity("t", null, [p.j]) + " = " + ctx.fmt(t[p.j]),
      "t", L, "start"));
    g.append(d.label(p.x + lay.r + 8, p.y + 18, "∂E/∂" + quantity("a", L, [p.j], ex) + " = " +
      ctx.fmt(view.dEda()[p.j]), "dEda", L, "start"));
  }
  // Inside the box (cr-in-box): the loss's name, its kind and its value.
  g.append(svg("rect", { x: lay.lossX, y: cy - height / 2, width: lay.lossW, height, rx: 8 }),
    svg("text", { x: cx, y: cy - height / 2 + 22, "text-anchor": "middle",
      class: "cr-loss-title cr-in-box" }, "E"),
    svg("text", { x: cx, y: cy - height / 2 + 40, "text-anchor": "middle",
      class: "cr-col-sub cr-in-box" }, view.net.loss + (view.batch ? ", mean" : "")));
  const value = svg("text", { x: cx, y: cy + height / 2 - 10, "text-anchor": "middle",
    class: "cr-label cr-loss cr-in-box", "font-size": lay.lossSize },
  ctx.fmt(view.rec.forward.loss));
  d.texts.push({ node: value, kind: "loss", layer: L });
  g.append(value);
  d.parts.push({ node: g, role: "loss", layer: view.depth });
  return g;
}
