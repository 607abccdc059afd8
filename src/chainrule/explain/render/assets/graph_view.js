// The graph page: build the controls, draw the diagram, wire up stepping, selection, zoom and
// panning. Everything is scoped to the root, and ids carry its prefix, so two graphs share a
// notebook without touching each other.

const ZOOMS = [0.4, 0.5, 0.65, 0.8, 1, 1.25, 1.5, 2];

function bootGraph(root) {
  const view = JSON.parse(root.querySelector(".gp-data").textContent);
  const precision = parsePrecision(root.dataset.precision);
  const ids = root.dataset.ids;
  const words = wording(view, precision);
  const fallback = root.querySelector(".gp-fallback");
  if (fallback) fallback.hidden = true;

  const button = (role, label, text) => el("button", { type: "button", "data-role": role,
    "aria-label": label, title: label }, text);
  const prev = button("prev", "Previous step (←, p)", "◀ Prev");
  const next = button("next", "Next step (→, n)", "Next ▶");
  const counter = el("span", { class: "gp-counter", "data-role": "counter" });
  const zoomOut = button("zoom-out", "Zoom out", "−");
  const zoomIn = button("zoom-in", "Zoom in", "+");
  const zoomReset = button("zoom-reset", "Actual size", "100%");
  const zoomFit = button("zoom-fit", "Fit the width", "Fit");
  const status = el("p", { class: "gp-status", "data-role": "status", role: "status",
    "aria-live": "polite", "aria-atomic": "true" });
  const svgRoot = svg("svg", { class: "gp-svg", role: "group",
    "aria-label": "Computational graph, drawn left to right" });
  const scroller = el("div", { class: "gp-scroll", "data-role": "diagram", tabindex: 0,
    role: "region", "aria-label": "Diagram (drag or scroll to pan, ctrl + wheel to zoom)" },
  svgRoot);
  const panelTitleId = ids + "panel-title";
  const panel = el("div", { class: "gp-panel-body", "data-role": "panel" },
    el("p", { class: "gp-hint" }, "Click or focus a node or a wire and press Enter to see its " +
      "local derivative and chain-rule step."));
  const aside = el("aside", { class: "gp-panel", "aria-labelledby": panelTitleId },
    el("h3", { id: panelTitleId, class: "gp-aside-title" }, "Selection"), panel);
  root.append(
    el("h2", { class: "gp-title" }, root.dataset.title),
    el("p", { class: "gp-legend" }, "Each node's ", el("span", { class: "gp-key-value" },
      "value"), " is above its output wire, its ", el("span", { class: "gp-key-grad" },
      "gradient ∂" + view.nodes[view.output].name + "/∂node"), " below. Step with → and ← " +
      "(or n, p); click a node or a wire, or Tab to it and press Enter, for its chain rule."),
    el("div", { class: "gp-toolbar", role: "toolbar", "aria-label": "Steps and zoom" },
      el("span", { class: "gp-group" }, prev, next, counter),
      el("span", { class: "gp-group" }, zoomOut, zoomReset, zoomIn, zoomFit)),
    status,
    el("div", { class: "gp-layout" }, scroller, aside),
  );

  // --- the diagram
  const measure = measurer(svgRoot);
  const texts = view.nodes.map((n) => ({ value: words.brief(n.value),
    grad: words.brief(n.grad) }));
  const fanOut = (k) => view.nodes[view.edges[k].source].out_edges.length > 1;
  const terms = view.edges.map((e, k) => (fanOut(k) ? words.brief(e.contribution) : null));
  const shapes = view.nodes.map((n, i) => nodeShape(n, texts[i], measure));
  const layout = layoutGraph(view, shapes, terms, measure);
  svgRoot.replaceChildren();
  svgRoot.setAttribute("viewBox", `0 0 ${layout.width} ${layout.height}`);
  const edgeEls = layout.routes.map((route, k) => drawEdge(route, layout.labels[k], terms[k],
    k, edgeDescription(words, view, k)));
  const nodeEls = layout.boxes.map((box, i) => drawNode(box, i, nodeDescription(words, view, i)));
  svgRoot.append(svg("g", { class: "gp-edges" }, edgeEls),
    svg("g", { class: "gp-nodes" }, nodeEls));

  let zoom = 1;
  function setZoom(z, anchor) {
    const box = scroller.getBoundingClientRect();
    const at = anchor || { x: box.width / 2, y: box.height / 2 };
    const fx = (scroller.scrollLeft + at.x) / zoom;
    const fy = (scroller.scrollTop + at.y) / zoom;
    zoom = Math.min(ZOOMS[ZOOMS.length - 1], Math.max(ZOOMS[0], z));
    svgRoot.setAttribute("width", (layout.width * zoom).toFixed(1));
    svgRoot.setAttribute("height", (layout.height * zoom).toFixed(1));
    scroller.scrollLeft = fx * zoom - at.x;
    scroller.scrollTop = fy * zoom - at.y;
    zoomReset.textContent = Math.round(zoom * 100) + "%";
  }
  const stepZoom = (dir) => setZoom(dir > 0 ? ZOOMS.find((z) => z > zoom + 1e-9) || zoom
    : [...ZOOMS].reverse().find((z) => z < zoom - 1e-9) || zoom);
  // As large as fits, up to 160 %, and never below 100 %: on a phone the diagram scrolls
  // instead of shrinking its text below 13 px.
  setZoom(Math.max(1, Math.min(1.6, (scroller.clientWidth - 4) / layout.width)));
  zoomIn.addEventListener("click", () => stepZoom(1));
  zoomOut.addEventListener("click", () => stepZoom(-1));
  zoomReset.addEventListener("click", () => setZoom(1));
  zoomFit.addEventListener("click", () => setZoom((scroller.clientWidth - 4) / layout.width));
  wheelZoom(scroller, () => zoom, setZoom);

  // --- stepping
  const steps = buildSteps(view);
  let current = 0;
  function show(s) {
    current = Math.max(0, Math.min(steps.length - 1, s));
    const state = stepState(view, steps, current);
    root.querySelectorAll(".gp-value").forEach((t) => t.classList.toggle("is-pending",
      !state.value[Number(t.dataset.node)]));
    root.querySelectorAll(".gp-node .gp-grad").forEach((t) => t.classList.toggle(
      "is-pending", !state.grad[Number(t.dataset.node)]));
    root.querySelectorAll(".gp-term").forEach((t) => t.classList.toggle("is-pending",
      !state.term[Number(t.dataset.edge)]));
    nodeEls.forEach((g, i) => g.classList.toggle("is-current", state.node === i));
    edgeEls.forEach((g, k) => g.classList.toggle("is-current", state.edge === k));
    counter.textContent = "Step " + current + " of " + (steps.length - 1);
    prev.disabled = current === 0;
    next.disabled = current === steps.length - 1;
    status.textContent = announce(words, view, steps, current);
  }
  prev.addEventListener("click", () => show(current - 1));
  next.addEventListener("click", () => show(current + 1));
  show(0);

  // --- selection: by geometry on click, by focus and Enter from the keyboard
  function select(selection, focus) {
    nodeEls.forEach((g, i) => g.classList.toggle("is-selected", selection.node === i));
    edgeEls.forEach((g, k) => g.classList.toggle("is-selected", selection.edge === k));
    [...nodeEls, ...edgeEls].forEach((g) => g.setAttribute("aria-pressed", String(
      g.classList.contains("is-selected"))));
    panel.replaceChildren(...panelContent(words, view, selection).flat());
    if (focus) (selection.node !== undefined ? nodeEls[selection.node]
      : edgeEls[selection.edge]).focus({ preventScroll: true });
  }
  // panning with a mouse drag (touch scrolls natively); a drag's pointer-up selects nothing
  const pan = dragToPan(scroller);
  svgRoot.addEventListener("click", (event) => {
    if (pan.wasDragged()) return;
    const matrix = svgRoot.getScreenCTM();
    if (!matrix) return;
    const p = new DOMPoint(event.clientX, event.clientY).matrixTransform(matrix.inverse());
    const hit = pick(layout, p, 10 / zoom + 1); // the hit stroke: 10 CSS px either side
    if (hit) select(hit, true);
  });
  const choose = (event, selection) => {
    if (event.key !== "Enter" && event.key !== " ") return;
    event.preventDefault();
    select(selection, false);
  };
  nodeEls.forEach((g, i) => g.addEventListener("keydown", (e) => choose(e, { node: i })));
  edgeEls.forEach((g, k) => g.addEventListener("keydown", (e) => choose(e, { edge: k })));

  // --- keys: anywhere in this graph's root, so two graphs on one page stay apart
  root.addEventListener("keydown", (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    const moves = { ArrowRight: 1, n: 1, ArrowLeft: -1, p: -1 };
    if (event.key in moves) show(current + moves[event.key]);
    else if (event.key === "Home") show(0);
    else if (event.key === "End") show(steps.length - 1);
    else return;
    event.preventDefault();
  });
}
