// The network diagram's viewport: text measured as the browser draws it, a scrolling region
// that zooms (buttons, ctrl + wheel) and pans (drag, or touch), and a click that selects the
// edge nearest the pointer rather than whichever edge happens to be drawn on top.

const ZOOMS = [0.5, 0.65, 0.8, 1, 1.25, 1.5, 2, 3];
const MAX_FIT = 1.6; // a small network on a wide screen grows to fit, up to this
const REACH = 10; // CSS px: how far from an edge a click still selects it

// measure(text, cls, size) → { w, top, bottom } in SVG units, by a hidden probe in `host`
// styled as the diagram is; an estimate where nothing is rendered (a hidden notebook cell).
function measurer(host) {
  const probe = svg("text", { x: 0, y: 0 });
  const box = svg("svg", { class: "cr-svg cr-probe", width: 0, height: 0, "aria-hidden": "true" },
    probe);
  host.append(box);
  const seen = new Map();
  const measure = (text, cls, size) => {
    const key = cls + "|" + (size || "") + "|" + text;
    if (!seen.has(key)) {
      probe.setAttribute("class", cls);
      if (size) probe.setAttribute("font-size", size);
      else probe.removeAttribute("font-size");
      probe.textContent = text;
      const b = probe.getBBox();
      const px = size || parseFloat(getComputedStyle(probe).fontSize) || 15;
      seen.set(key, b.width ? { w: b.width, top: b.y, bottom: b.y + b.height }
        : { w: 0.62 * px * text.length, top: -0.95 * px, bottom: 0.3 * px });
    }
    return seen.get(key);
  };
  measure.done = () => box.remove();
  return measure;
}

// The scrolling region around the SVG, its zoom buttons, and the selection by geometry.
function diagramViewport(root, lay, geometry, onSelect) {
  const button = (role, label, text) => el("button", { type: "button", class: "cr-btn cr-zoom",
    "data-role": role, "aria-label": label, title: label }, text);
  const zoomOut = button("zoom-out", "Zoom out", "−");
  const zoomReset = button("zoom-reset", "Actual size", "100%");
  const zoomIn = button("zoom-in", "Zoom in", "+");
  const zoomFit = button("zoom-fit", "Fit the width", "Fit");
  const scroller = el("div", { class: "cr-diagram-scroll", "data-role": "diagram", tabindex: 0,
    role: "region", "aria-label": "Network diagram (drag or scroll to pan, ctrl + wheel to " +
      "zoom)" }, root);
  const node = el("div", { class: "cr-viewport" },
    el("div", { class: "cr-zoombar", role: "toolbar", "aria-label": "Zoom the diagram" },
      zoomOut, zoomReset, zoomIn, zoomFit), scroller);

  let zoom = 1;
  const fit = () => (scroller.clientWidth - 2) / lay.width; // "Fit" may go below ZOOMS[0]
  function setZoom(z, anchor) {
    const box = scroller.getBoundingClientRect();
    const at = anchor || { x: box.width / 2, y: box.height / 2 };
    const fx = (scroller.scrollLeft + at.x) / zoom, fy = (scroller.scrollTop + at.y) / zoom;
    zoom = Math.min(ZOOMS[ZOOMS.length - 1], Math.max(Math.min(ZOOMS[0], fit()), z));
    root.style.width = (lay.width * zoom).toFixed(1) + "px";
    root.style.height = (lay.height * zoom).toFixed(1) + "px";
    scroller.scrollLeft = fx * zoom - at.x;
    scroller.scrollTop = fy * zoom - at.y;
    zoomReset.textContent = Math.round(zoom * 100) + "%";
  }
  const stepZoom = (dir) => setZoom(dir > 0 ? ZOOMS.find((z) => z > zoom + 1e-9) || zoom
    : [...ZOOMS].reverse().find((z) => z < zoom - 1e-9) || zoom);
  zoomIn.addEventListener("click", () => stepZoom(1));
  zoomOut.addEventListener("click", () => stepZoom(-1));
  zoomReset.addEventListener("click", () => setZoom(1));
  zoomFit.addEventListener("click", () => setZoom(fit()));
  wheelZoom(scroller, () => zoom, setZoom);

  // Panning with a mouse drag; a touch pans natively, as the region scrolls.
  const pan = dragToPan(scroller);

  root.addEventListener("click", (event) => {
    if (pan.wasDragged()) return;
    // A value label or a bias tag names its parameter; anywhere else, the nearest edge.
    const own = event.target.closest("[data-label-for], .cr-bias[data-param]");
    if (own) {
      onSelect(own.getAttribute("data-param") || own.getAttribute("data-label-for"));
      return;
    }
    const matrix = root.getScreenCTM();
    if (!matrix) return;
    const p = new DOMPoint(event.clientX, event.clientY).matrixTransform(matrix.inverse());
    const key = nearestEdge(geometry, p, REACH / (matrix.a || 1));
    if (!key) return;
    onSelect(key);
    const target = root.querySelector(`.cr-edge[data-param="${key}"]`);
    if (target) target.focus({ preventScroll: true });
  });
  root.addEventListener("keydown", (event) => {
    const target = event.target.closest("[data-param]");
    if (target && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault(); // Space would scroll the page
      onSelect(target.getAttribute("data-param"));
    }
  });

  // Once in the document: as wide as the region, between 100 % (so text stays at its own
  // size, 12 px or more, on a phone: the region scrolls instead) and MAX_FIT.
  const mount = () => setZoom(Math.max(1, Math.min(MAX_FIT, fit())));
  return { node, mount };
}

// The edge within `reach` of p, nearest first; none inside a unit's circle.
function nearestEdge(geometry, p, reach) {
  if (geometry.units.some((u) => Math.hypot(p.x - u.x, p.y - u.y) <= u.r)) return null;
  let best = null;
  for (const e of geometry.edges) {
    const distance = segmentDistance(p, e.a, e.b);
    if (distance <= reach && (!best || distance < best.distance)) best = { key: e.key, distance };
  }
  return best && best.key;
}

function segmentDistance(p, a, b) {
  const dx = b.x - a.x, dy = b.y - a.y;
  const t = dx || dy ? Math.max(0, Math.min(1, ((p.x - a.x) * dx + (p.y - a.y) * dy) /
    (dx * dx + dy * dy))) : 0;
  return Math.hypot(p.x - (a.x + t * dx), p.y - (a.y + t * dy));
}

// Two boxes { x0, x1, y0, y1 } that share any area.
function overlaps(a, b) {
  return a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;
}

// Whether the segment a–b passes through the box (Liang–Barsky clipping).
function segmentCrosses(a, b, box) {
  const dx = b.x - a.x, dy = b.y - a.y;
  let t0 = 0, t1 = 1;
  for (const [p, q] of [[-dx, a.x - box.x0], [dx, box.x1 - a.x], [-dy, a.y - box.y0],
    [dy, box.y1 - a.y]]) {
    if (p === 0) {
      if (q < 0) return false;
    } else {
      const t = q / p;
      if (p < 0) t0 = Math.max(t0, t);
      else t1 = Math.min(t1, t);
      if (t0 > t1) return false;
    }
  }
  return true;
}
