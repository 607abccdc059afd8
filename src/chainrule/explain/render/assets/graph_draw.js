// The graph page's diagram: measure every label, let dagre place the boxes, draw the SVG.
//
// A node is one box for dagre: its shape (an input's rectangle, an op's circle with the op's
// symbol and the node's name above it) and its output wire, a stub with the value above it
// (green) and the gradient below (red), CS231n's convention. Edges leave from the stub's end.
// A wire from a node used more than once carries its own path's term as an edge label, which
// dagre lays out as a box of its own, so no label can sit on another.

const LABEL_GAP = 3; // between a wire and the number above or below it
const MIN_STUB = 40;

// Text metrics in the SVG's own units: width, and the box's top and bottom from the baseline.
function measurer(svgRoot) {
  const probe = svg("text", { class: "gp-label", x: 0, y: 0 });
  svgRoot.append(probe);
  return (text, cls) => {
    probe.setAttribute("class", "gp-label " + cls);
    probe.textContent = text;
    const box = probe.getBBox();
    const size = parseFloat(getComputedStyle(probe).fontSize) || 13;
    probe.textContent = "";
    if (!box.width) { // not rendered (a hidden notebook cell): estimate from the font size
      return { w: 0.62 * size * text.length, top: -0.95 * size, bottom: 0.3 * size };
    }
    return { w: box.width, top: box.y, bottom: box.y + box.height };
  };
}

// The geometry of node i in its own frame: x from 0 (left) to width, the wire at y = 0.
function nodeShape(node, texts, measure) {
  const value = measure(texts.value, "gp-value");
  const grad = measure(texts.grad, "gp-grad");
  const name = measure(node.name, "gp-name");
  const shape = { node, texts, value, grad, name };
  let left = 0;
  let top;
  if (node.leaf) {
    shape.w = Math.max(34, name.w + 18);
    shape.r = 14;
    top = -shape.r;
  } else {
    const symbol = measure(node.symbol, "gp-symbol");
    shape.symbol = symbol;
    shape.r = Math.max(16, symbol.w / 2 + 8);
    shape.w = 2 * shape.r;
    left = Math.max(0, (name.w - shape.w) / 2);
  }
  shape.cx = left + shape.w / 2;
  shape.valueY = -LABEL_GAP - value.bottom;
  shape.gradY = LABEL_GAP - grad.top;
  const valueTop = shape.valueY + value.top;
  const gradBottom = shape.gradY + grad.bottom;
  if (node.leaf) {
    top = Math.min(-shape.r, valueTop);
  } else {
    shape.nameY = Math.min(-shape.r - 3, valueTop - 2) - name.bottom;
    top = shape.nameY + name.top;
  }
  const overhang = node.leaf ? 0 : shape.cx + name.w / 2 - (left + shape.w);
  shape.stub = Math.max(MIN_STUB, value.w + 16, grad.w + 16, overhang + 6);
  shape.width = left + shape.w + shape.stub;
  shape.half = Math.max(-top, gradBottom, shape.r) + 4;
  return shape;
}

function layoutGraph(view, shapes, contributions, measure) {
  const g = new dagre.graphlib.Graph({ multigraph: true });
  g.setGraph({ rankdir: "LR", nodesep: 22, ranksep: 34, edgesep: 14, marginx: 14,
    marginy: 14 });
  g.setDefaultEdgeLabel(() => ({}));
  shapes.forEach((s, i) => g.setNode(String(i), { width: s.width, height: 2 * s.half }));
  const labels = view.edges.map((edge, k) => {
    if (contributions[k] === null) return null;
    const text = measure(contributions[k], "gp-grad gp-term");
    return { text, half: LABEL_GAP + text.bottom - text.top + 2 };
  });
  view.edges.forEach((edge, k) => {
    const label = labels[k];
    const size = label ? { width: label.text.w + 10, height: 2 * label.half } : {};
    g.setEdge(String(edge.source), String(edge.target), { ...size, labelpos: "c" }, "e" + k);
  });
  dagre.layout(g);
  const boxes = shapes.map((s, i) => {
    const at = g.node(String(i));
    return { x: at.x - s.width / 2, y: at.y, shape: s };
  });
  const routes = view.edges.map((edge, k) => {
    const laid = g.edge({ v: String(edge.source), w: String(edge.target), name: "e" + k });
    return wirePoints(boxes[edge.source], boxes[edge.target], laid, labels[k]);
  });
  const size = g.graph();
  return { boxes, routes, labels, width: size.width, height: size.height };
}

// From the source's stub end, through dagre's bends (level across an edge label), onto the
// target's circle, aimed at the last bend.
function wirePoints(from, to, laid, label) {
  const start = { x: from.x + from.shape.width, y: from.y };
  const bends = [];
  for (const p of laid.points.slice(1, -1)) {
    if (label && Math.abs(p.x - laid.x) < 1 && Math.abs(p.y - laid.y) < 1) {
      const half = label.text.w / 2 + 5;
      bends.push({ x: p.x - half, y: p.y }, { x: p.x + half, y: p.y });
    } else if (p.x > start.x) {
      bends.push({ x: p.x, y: p.y });
    }
  }
  const centre = { x: to.x + to.shape.cx, y: to.y };
  const aim = bends.length ? bends[bends.length - 1] : start;
  const dx = aim.x - centre.x;
  const dy = aim.y - centre.y;
  const len = Math.hypot(dx, dy) || 1;
  const end = { x: centre.x + (to.shape.r * dx) / len, y: centre.y + (to.shape.r * dy) / len };
  return { points: [start, ...bends, end], label: label && { x: laid.x, y: laid.y } };
}

function pathOf(points) {
  return points.map((p, i) => (i ? "L" : "M") + p.x.toFixed(1) + " " + p.y.toFixed(1)).join("");
}

function drawNode(box, i, describe) {
  const s = box.shape;
  const node = s.node;
  const parts = [];
  if (node.leaf) {
    parts.push(svg("rect", { class: "gp-shape", x: 0, y: -s.r, width: s.w, height: 2 * s.r,
      rx: 5 }));
    parts.push(svg("text", { class: "gp-label gp-name", x: s.cx, y: 0, "text-anchor": "middle",
      "dominant-baseline": "central" }, node.name));
  } else {
    parts.push(svg("circle", { class: "gp-shape", cx: s.cx, cy: 0, r: s.r }));
    parts.push(svg("text", { class: "gp-label gp-symbol", x: s.cx, y: 0,
      "text-anchor": "middle", "dominant-baseline": "central", "aria-hidden": "true" },
    node.symbol));
    parts.push(svg("text", { class: "gp-label gp-name", x: s.cx, y: s.nameY,
      "text-anchor": "middle" }, node.name));
  }
  const stubLeft = s.cx + s.w / 2;
  const mid = stubLeft + s.stub / 2;
  parts.push(svg("line", { class: "gp-stub", x1: stubLeft, y1: 0, x2: s.width, y2: 0 }));
  parts.push(svg("text", { class: "gp-label gp-value", x: mid, y: s.valueY,
    "text-anchor": "middle", "data-node": i }, s.texts.value));
  parts.push(svg("text", { class: "gp-label gp-grad", x: mid, y: s.gradY,
    "text-anchor": "middle", "data-node": i }, s.texts.grad));
  return svg("g", { class: "gp-node" + (node.leaf ? " is-leaf" : ""), "data-node": i,
    transform: `translate(${box.x.toFixed(1)} ${box.y.toFixed(1)})`, tabindex: 0,
    role: "button", "aria-label": describe }, parts);
}

function drawEdge(route, label, text, k, describe) {
  const d = pathOf(route.points);
  const parts = [svg("path", { class: "gp-hit", d }), svg("path", { class: "gp-wire", d })];
  if (label) {
    parts.push(svg("text", { class: "gp-label gp-grad gp-term", x: route.label.x,
      y: route.label.y + LABEL_GAP - label.text.top, "text-anchor": "middle",
      "data-edge": k }, text));
  }
  return svg("g", { class: "gp-edge", "data-edge": k, tabindex: 0, role: "button",
    "aria-label": describe }, parts);
}

// The nearest thing to a point of the SVG: a node whose box holds it, else the wire or edge
// label within `reach` of it. Geometry, not the topmost element: a wire crossing another
// cannot take the other's click.
function pick(layout, point, reach) {
  for (let i = 0; i < layout.boxes.length; i++) {
    const b = layout.boxes[i];
    if (point.x >= b.x && point.x <= b.x + b.shape.width && Math.abs(point.y - b.y) <=
        b.shape.half) return { node: i };
  }
  let best = null;
  layout.routes.forEach((route, k) => {
    let distance = Infinity;
    const pts = route.points;
    for (let j = 1; j < pts.length; j++) {
      distance = Math.min(distance, segmentDistance(point, pts[j - 1], pts[j]));
    }
    const label = layout.labels[k];
    if (label && Math.abs(point.x - route.label.x) <= label.text.w / 2 + 5 &&
        point.y >= route.label.y && point.y <= route.label.y + label.half) distance = 0;
    if (distance <= reach && (best === null || distance < best.distance)) {
      best = { edge: k, distance };
    }
  });
  return best && { edge: best.edge };
}

function segmentDistance(p, a, b) {
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  const t = dx || dy ? Math.max(0, Math.min(1, ((p.x - a.x) * dx + (p.y - a.y) * dy) /
    (dx * dx + dy * dy))) : 0;
  return Math.hypot(p.x - (a.x + t * dx), p.y - (a.y + t * dy));
}
