// The page's panels besides the diagram: the header, the chain-rule panel and the worksheet
// that fills in as the reader steps.

const MAX_ROWS = 16, MAX_COLS = 12; // of a matrix in the worksheet; the JSON has all of it
const MAX_UPDATE_ROWS = 60;
const PENDING = "…"; // a value the steps have not reached yet

function renderHeader(ctx) {
  const net = ctx.data.network, opt = net.optimizer || {};
  const records = ctx.data.steps ? ctx.data.steps.length : 1;
  const facts = [
    ["Architecture", net.layers.join("-")],
    ["Activations", net.activations.join(", ")],
    ["Loss", net.loss],
    ["Learning rate", "η = " + net.learning_rate],
    net.batch_size ? ["Batch size", String(net.batch_size)] : null,
    net.bias !== "per_unit" ? ["Bias", net.bias === "none" ? "none" : "one per layer"] : null,
    opt.momentum || opt.weight_decay ? ["Optimizer", "sgd, momentum " + opt.momentum +
      (opt.nesterov ? " (Nesterov)" : "") + ", weight decay " + opt.weight_decay] : null,
    net.frozen && net.frozen.length ? ["Frozen", net.frozen.join(", ")] : null,
    records > 1 ? ["Recorded", records + " training steps"] : null,
  ].filter(Boolean);
  return el("header", { class: "cr-header" },
    el(ctx.fragment ? "h2" : "h1", { class: "cr-name" }, net.name),
    net.description ? el("p", { class: "cr-description" }, net.description) : null,
    el("dl", { class: "cr-facts" }, facts.map(([k, v]) =>
      el("div", {}, el("dt", {}, k), el("dd", {}, v)))));
}

// --- chain panel -----------------------------------------------------------------------------

function renderChain(ctx, view, key) {
  // the textbook's symbol (units from 1) with NumPy's key (from 0) beside it, as the text
  const out = [el("h3", {}, "Chain rule" + (key ? " for " + view.paramSymbol(key) + " (" + key +
    " in NumPy, from 0)" : ""))];
  if (!key) {
    out.push(para("Select a weight (an edge) or a bias tag in the diagram — click it, or " +
      "Tab to it and press Enter — to see its gradient as a product of local derivatives."));
    return out;
  }
  const exp = view.chain[key];
  if (!exp) {
    out.push(para(view.rec.chain_omitted
      ? "Per-element chains were left out of this trace: " + view.rec.chain_omitted + "."
      : "This trace has no chain-rule expansion for " + key + "."),
    eq("∂E/∂" + view.paramSymbol(key) + " = ", el("strong", {},
      ctx.fmt(view.element("gradients", key)))));
    return out;
  }
  const paths = exp.paths || 1;
  out.push(para(chainWords(view, key, exp, paths)),
  eq(exp.symbol + " = " + expansionSymbols(exp)),
  eq("= " + expansionNumbers(ctx, exp)),
  eq("= ", el("strong", {}, ctx.fmt(exp.value))));
  if (exp.factors && exp.factors.length) {
    out.push(el("ul", { class: "cr-factors" }, exp.factors.map((f) => el("li", {},
      f.symbol + (f.formula && f.formula !== f.symbol ? " = " + f.formula : "") + " = " +
      ctx.fmt(f.value)))));
  }
  const delta = exp.delta && paths > 1 ? view.deltas[exp.delta] : null;
  if (delta) out.push(...deltaDetail(ctx, view, delta));
  if (!exp.factors && view.batch) out.push(...batchDetail(ctx, view, key));
  return out;
}

function chainWords(view, key, exp, paths) {
  if (!exp.factors || !exp.factors.length) {
    const over = [view.batch ? "the " + view.batch + " examples of the batch" : null,
      !parseKey(key).weight && view.sharedBias ? "the units that share this bias" : null];
    return "The gradient is a sum over " + over.filter(Boolean).join(" and over ") + ": each " +
      "term is a delta times the derivative of that unit's z by this parameter.";
  }
  if (paths === 1) {
    return "One path leads from this parameter to the loss, so its gradient is the product " +
      "of the local derivatives along it.";
  }
  return paths + " paths lead from this parameter to the loss; they meet in the delta of the " +
    "unit it feeds, so the gradient is that delta times the input along the edge.";
}

// A multi-path gradient's delta, and the deltas of the next layer it sums over.
function deltaDetail(ctx, view, delta) {
  const out = [el("h4", {}, "where " + delta.symbol), ...expansionLines(ctx, delta)];
  const layer = Number(/^delta(\d+)/.exec(delta.key)[1]);
  if (layer < view.depth && delta.terms) {
    const next = delta.terms.map((_, k) => view.deltas[view.deltaKey(layer + 1, k)]);
    const { shown, more } = capped(next.filter(Boolean), MAX_TERMS);
    out.push(el("h4", {}, "with the deltas of layer " + (layer + 1)),
      el("ul", { class: "cr-factors" }, shown.map((d) => el("li", {}, (d.rule || d.symbol) +
        " = " + ctx.fmt(d.value))), more ? el("li", {}, "… " + more + " more") : null));
  }
  return out;
}

// Over a batch every term is δ⁽ⁿ⁾ times an input; the shown example's delta, worked out.
function batchDetail(ctx, view, key) {
  const p = parseKey(key);
  if (!p.weight && view.sharedBias) return [];
  const delta = view.deltas[view.deltaKey(p.layer, p.weight ? p.index[1] : p.index[0])];
  if (!delta) return [];
  return [el("h4", {}, "where, for example " + (view.example + 1) + ", " + delta.symbol),
    ...expansionLines(ctx, delta)];
}

// --- worksheet -------------------------------------------------------------------------------

function card(title, ...children) {
  return el("section", { class: "cr-card" }, el("h3", {}, title), ...children);
}

function wideCard(title, ...children) {
  const node = card(title, ...children);
  node.classList.add("cr-wide");
  return node;
}

function row(label, value) {
  return el("div", { class: "cr-row" }, el("span", { class: "cr-row-label" }, label),
    el("span", { class: "cr-row-value" }, value));
}

function vectorOrPending(ctx, values, ready) {
  return ready ? "[" + values.map(ctx.fmt).join(", ") + "]" : PENDING;
}

// A parameter-shaped table (matrix or vector), its cells tagged for tests and tools.
function paramTable(ctx, view, name, group, ready, attr) {
  const values = view.rec[group][name];
  const matrix = Array.isArray(values[0]) ? values : [values];
  const rows = capped(matrix, MAX_ROWS), cols = capped(matrix[0], MAX_COLS);
  const cell = (i, j) => {
    const index = matrix === values ? [i, j] : [j];
    const value = ready ? ctx.fmt(rows.shown[i][j]) : PENDING;
    return el("td", { [attr]: elementKey(name, index) }, value);
  };
  const cut = rows.more || cols.more ? el("p", { class: "cr-note" }, "Showing " +
    rows.shown.length + " × " + cols.shown.length + " of " + matrix.length + " × " +
    matrix[0].length + "; the JSON holds every value.") : null;
  return [el("div", { class: "cr-table-wrap" }, el("table", { class: "cr-matrix" },
    el("caption", {}, "∂E/∂" + name),
    rows.shown.map((r, i) => el("tr", {}, cols.shown.map((_, j) => cell(i, j)))))), cut];
}

function renderWorksheet(ctx, view, reached) {
  const L = view.depth, f = view.rec.forward, ex = view.batch
    ? " (example " + (view.example + 1) + " of " + view.batch + ")" : "";
  const forward = [row("a⁰", vectorOrPending(ctx, view.a(0), true))];
  for (let l = 1; l <= L; l++) {
    forward.push(row("z" + sup(l), vectorOrPending(ctx, view.z(l), reached("z" + l))),
      row("a" + sup(l), vectorOrPending(ctx, view.a(l), reached("a" + l))));
  }
  const loss = [row("t", vectorOrPending(ctx, view.target().vector, true))];
  if (view.batch) {
    loss.push(row("E per example", vectorOrPending(ctx, f.example_losses, reached("loss"))));
  }
  loss.push(row("E", el("output", { id: ctx.id("loss"), "data-role": "loss" },
    reached("loss") ? ctx.fmt(f.loss) : PENDING)));
  const backward = [row("∂E/∂a" + sup(L), vectorOrPending(ctx, view.dEda(), reached("dEda")))];
  for (let l = L; l >= 1; l--) {
    backward.push(row("δ" + sup(l), vectorOrPending(ctx, view.delta(l), reached("delta" + l))));
  }
  const grads = el("div", { class: "cr-tables" }, view.paramNames().map((name) =>
    el("div", {}, paramTable(ctx, view, name, "gradients",
      reached("grad" + parseKey(name + "[0]").layer), "data-grad"))));
  return [
    card("Forward pass" + ex, ...forward),
    card("Loss", ...loss),
    card("Backward pass" + ex, ...backward),
    card("Gradients" + (view.batch ? " (whole batch)" : ""), grads),
    updateCard(ctx, view, reached),
  ];
}

function updateCard(ctx, view, reached) {
  const keys = view.paramNames().flatMap((name) =>
    view.indices(name).map((index) => elementKey(name, index)));
  const { shown, more } = capped(keys, MAX_UPDATE_ROWS);
  const done = reached("update"), frozen = view.frozen.size > 0;
  const head = el("tr", {}, ["Parameter", "Before", "Gradient", "After", frozen ? "" : null]
    .filter((h) => h !== null).map((h) => el("th", { scope: "col" }, h)));
  const rows = shown.map((key) => {
    const still = view.frozen.has(parseKey(key).name);
    return el("tr", { "data-update": key, class: still ? "is-frozen" : null },
      el("th", { scope: "row" }, view.paramSymbol(key) + " ", el("code", {}, key)),
      el("td", {}, ctx.fmt(view.element("parameters", key))),
      el("td", {}, reached("grad" + parseKey(key).layer)
        ? ctx.fmt(view.element("gradients", key)) : PENDING),
      el("td", {}, done ? ctx.fmt(view.element("updated", key)) : PENDING),
      frozen ? el("td", {}, still ? "frozen: not updated" : "") : null);
  });
  const before = view.rec.forward.loss, after = view.rec.loss_after;
  return wideCard("Update",
    el("div", { class: "cr-table-wrap" }, el("table", { class: "cr-update" }, head, rows)),
    more ? el("p", { class: "cr-note" }, "… and " + more + " more in the JSON.") : null,
    row("E before", reached("loss") ? ctx.fmt(before) : PENDING),
    row("E after", el("output", { "data-role": "loss-after" }, done ? ctx.fmt(after) : PENDING)),
    done && after !== null && before !== null ? el("p", { class: "cr-note" }, after < before
      ? "The step lowered the loss." : after > before ? "The step raised the loss (η too large?)."
        : "The loss did not change.") : null);
}
