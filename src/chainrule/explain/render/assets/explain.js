// The page itself: reads the embedded trace, lays out the panels and steps through them.
// Loaded last; html.py calls boot(root) with the element that holds the trace.

const KEYS = { ArrowRight: 1, n: 1, ArrowLeft: -1, p: -1 };

function boot(root) {
  const data = JSON.parse(root.querySelector("script.cr-trace").textContent);
  const opts = root.dataset;
  const precision = parsePrecision(opts.precision);
  const ctx = {
    data, precision,
    fragment: opts.fragment === "true",
    fmt: (value) => formatNumber(value, precision),
    id: (name) => (opts.ids || "") + name, // fragments prefix ids, so two can share a page
    lossFormulas: JSON.parse(opts.lossFormulas || "{}"),
    activations: JSON.parse(opts.activations || "{}"), // name → { f, def, unit }
  };
  const records = data.steps || [data];
  const state = { record: 0, example: 0, position: 0, selected: opts.startParam || null };
  let view, steps, shown, reveal, diagram;

  const button = (role, text, label, delta) => el("button", { type: "button", class: "cr-btn",
    id: ctx.id(role), "data-role": role, "aria-label": label, onclick: () => go(state.position +
      delta) }, text);
  const prev = button("prev", "◀ Back", "Previous step", -1);
  const next = button("next", "Next ▶", "Next step", 1);
  const counter = el("span", { class: "cr-counter", "data-role": "counter" });
  const timeline = el("ol", { class: "cr-timeline", "aria-label": "All steps" });
  const title = el("h2", { class: "cr-step-title", id: ctx.id("step-title") });
  const explanation = el("div", { class: "cr-explanation" });
  const panel = el("section", { class: "cr-panel cr-explain-panel", role: "region",
    "aria-live": "polite", "aria-labelledby": ctx.id("step-title") }, title, explanation);
  const chain = el("section", { class: "cr-panel cr-chain", id: ctx.id("chain"), role: "region",
    "aria-live": "polite", "aria-label": "Chain rule of the selected parameter" });
  const figure = el("figure", { class: "cr-diagram" });
  const legend = el("figcaption", { class: "cr-legend" },
    el("span", { class: "cr-key cr-key-pos" }), "positive weight (solid blue)",
    el("span", { class: "cr-key cr-key-neg" }), "negative weight (dashed orange); " +
      "thicker means larger |w|. Select an edge or bias tag for its chain rule.");
  const worksheet = el("div", { class: "cr-worksheet", "aria-label": "Worksheet" });

  root.replaceChildren(
    renderHeader(ctx),
    el("nav", { class: "cr-controls", "aria-label": "Step through the training step" },
      el("div", { class: "cr-buttons" }, prev, next, counter), pickers(), timeline),
    el("div", { class: "cr-main" }, figure, panel, chain),
    el("h2", { class: "cr-worksheet-title" }, "Worksheet"),
    worksheet,
    el("p", { class: "cr-hint" }, "Keys: → or n for the next step, ← or p for the previous " +
      "one, Home and End for the first and last. Numbers have " + describePrecision(precision) +
      "."),
  );

  // The recorded training step (when several were) and the example of a batch.
  function pickers() {
    const out = [];
    const picker = (name, label, options, onchange) => {
      const select = el("select", { id: ctx.id(name), "data-role": name,
        onchange: (e) => onchange(Number(e.target.value)) },
      options.map((text, i) => el("option", { value: i }, text)));
      out.push(el("label", { for: ctx.id(name) }, label), select);
    };
    if (records.length > 1) {
      picker("record", "Training step", records.map((_, i) => (i + 1) + " of " + records.length),
        (i) => { state.record = i; rebuild(); });
    }
    if (data.network.batch_size) {
      const inputs = data.network.input;
      picker("example", "Example", inputs.map((x, n) => (n + 1) + ": x = [" +
        x.map(ctx.fmt).join(", ") + "]"), (n) => { state.example = n; rebuild(); });
    }
    return out.length ? el("div", { class: "cr-pickers" }, out) : null;
  }

  function rebuild() {
    view = new View(data, records[state.record], state.example);
    steps = stepList(view, ctx.activations);
    shown = opts.only ? steps.filter((s) => s.phase === opts.only) : steps;
    reveal = revealIndex(steps);
    diagram = buildDiagram(ctx, view, select, figure);
    figure.replaceChildren(diagram.node, legend);
    diagram.mount(); // its zoom fits the region, now that it has a width
    timeline.replaceChildren(...shown.map((step, i) => el("li", { "data-phase": step.phase },
      el("button", { type: "button", class: "cr-pill", title: step.title,
        "aria-label": "Step " + (i + 1) + ": " + step.title, onclick: () => go(i) }, step.short))));
    render();
  }

  function render() {
    const step = shown[state.position];
    const reached = (key) => reveal[key] !== undefined && reveal[key] <= step.index;
    prev.disabled = state.position === 0;
    next.disabled = state.position === shown.length - 1;
    counter.textContent = "Step " + (state.position + 1) + " of " + shown.length;
    title.textContent = step.title;
    timeline.querySelectorAll("button").forEach((b, i) => {
      if (i === state.position) b.setAttribute("aria-current", "step");
      else b.removeAttribute("aria-current");
    });
    explanation.replaceChildren(...narrate(ctx, view, step).filter(Boolean));
    worksheet.replaceChildren(...renderWorksheet(ctx, view, reached));
    diagram.apply(step, reached);
    diagram.select(state.selected);
    chain.replaceChildren(...renderChain(ctx, view, state.selected));
  }

  function go(position) {
    const clamped = Math.max(0, Math.min(shown.length - 1, position));
    if (clamped === state.position) return;
    state.position = clamped;
    render();
  }

  function select(key) {
    state.selected = key;
    diagram.select(key);
    chain.replaceChildren(...renderChain(ctx, view, key));
  }

  // A page listens everywhere; a fragment (perhaps one of several in a notebook) only while
  // focus is inside it.
  const scope = ctx.fragment ? root : document;
  scope.addEventListener("keydown", (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey || event.defaultPrevented) return;
    if (/^(INPUT|SELECT|TEXTAREA)$/.test(event.target.tagName)) return;
    const jump = { Home: -Infinity, End: Infinity }[event.key];
    if (!KEYS[event.key] && jump === undefined) return;
    event.preventDefault();
    go(jump === undefined ? state.position + KEYS[event.key] : jump === Infinity
      ? shown.length - 1 : 0);
  });

  rebuild();
  if (state.selected) { // --param: open on the step that computes that gradient
    const layer = parseKey(state.selected).layer;
    const at = shown.findIndex((s) => s.kind === "grad" && s.layer === layer);
    if (at > 0) go(at);
  }
}
