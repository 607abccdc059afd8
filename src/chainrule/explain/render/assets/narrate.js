// Words and worked numbers for each step, and the chain-rule expansions shared with the
// chain panel. `ctx.fmt` formats a number with the page's precision.

const MAX_UNITS_LISTED = 6; // per-unit lines in one step; the worksheet lists every value
const MAX_TERMS = 6; // terms written out in one sum

function para(...children) { return el("p", {}, ...children); }
function eq(...children) { return el("p", { class: "cr-eq" }, ...children); }

function vectorText(ctx, values) {
  const { shown, more } = capped(values, 8);
  return "[" + shown.map(ctx.fmt).join(", ") + (more ? ", … " + more + " more" : "") + "]";
}

function productText(ctx, factors) {
  return factors.map((f) => "(" + ctx.fmt(f.value) + ")").join("");
}

function sumText(parts) {
  const { shown, more } = capped(parts, MAX_TERMS);
  return shown.join(" + ") + (more ? " + … (" + more + " more terms)" : "");
}

// An expansion from the trace (a delta or a parameter's gradient) with its numbers put in:
// a product "(a)(b)", a sum of products, or a hidden delta's "(f′) · [(w)(δ) + …]".
function expansionNumbers(ctx, exp) {
  const terms = (exp.terms || []).map((t) => productText(ctx, t.factors));
  const factors = exp.factors || [];
  if (!factors.length) return sumText(terms);
  return factors.map((f) => (terms.length && f.formula.startsWith("Σ") ? "[" + sumText(terms) +
    "]" : "(" + ctx.fmt(f.value) + ")")).join(factors.length > 1 && terms.length ? " · " : "");
}

// The same expansion in symbols: "∂E/∂a²₁ · ∂a²₁/∂z²₁" or "δ¹⁽¹⁾₁ · a⁰⁽¹⁾₁ + …".
function expansionSymbols(exp) {
  if (exp.factors && exp.factors.length) return exp.factors.map((f) => f.symbol).join(" · ");
  return sumText((exp.terms || []).map((t) => t.factors.map((f) => f.symbol).join(" · ")));
}

// "δ¹₁ = rule = numbers = value", one equation per line so a long one wraps readably.
function expansionLines(ctx, exp) {
  return [
    eq(exp.rule || exp.symbol + " = " + expansionSymbols(exp)),
    eq("= ", expansionNumbers(ctx, exp)),
    eq("= ", el("strong", {}, ctx.fmt(exp.value))),
  ];
}

// Per-unit lines, at most MAX_UNITS_LISTED of them, with a note for the rest.
function perUnit(count, line) {
  const { shown, more } = capped(Array.from({ length: count }, (_, j) => j), MAX_UNITS_LISTED);
  const lines = shown.map(line);
  if (more) lines.push(para(el("em", {}, "… and " + more + " more; see the worksheet below.")));
  return lines;
}

// ∂E/∂aᴸⱼ as the trace's chain factorisation writes it (the formula of the loss's slope).
function outputLossFactor(view, j) {
  const L = view.depth;
  if (view.activation(L) === "softmax") {
    const softmax = view.deltas[view.deltaKey(L, 0)];
    return softmax && softmax.terms ? softmax.terms[j].factors[0] : null;
  }
  const delta = view.deltas[view.deltaKey(L, j)];
  return delta && delta.factors ? delta.factors[0] : null;
}

function narrateInput(ctx, view) {
  const t = view.target();
  const which = view.batch ? " of example " + (view.example + 1) + " of " + view.batch : "";
  return [
    para("The input" + which + " enters the network as the activations of layer 0. Every " +
      "later layer first forms a weighted sum z = a·W" + (view.hasBias ? " + b" : "") +
      " of the layer before it, then applies its activation function: a = f(z)."),
    eq("a⁰ = x = ", vectorText(ctx, view.a(0))),
    eq("t = ", vectorText(ctx, t.vector), t.label === null ? "" : " (class index " + t.label + ")"),
  ];
}

function narrateZ(ctx, view, l) {
  const W = view.W(l), b = view.b(l), a = view.a(l - 1), ex = view.ex();
  const fanIn = view.sizes[l - 1];
  const bias = (j) => (b ? view.sharedBias ? b[0] : b[j] : null);
  const biasSym = (j) => (view.sharedBias ? quantity("b", l) : quantity("b", l, [j]));
  const lines = perUnit(view.sizes[l], (j) => {
    const z = quantity("z", l, [j], ex);
    const idx = Array.from({ length: fanIn }, (_, i) => i);
    const plus = b ? " + " + biasSym(j) : "";
    if (fanIn > 4) {
      return eq(z + " = Σᵢ " + quantity("a", l - 1, ["i"], ex) + "·" + quantity("w", l, ["i", j]) +
        plus + " = ", el("strong", {}, ctx.fmt(view.z(l)[j])));
    }
    return eq(z + " = " + idx.map((i) => quantity("a", l - 1, [i], ex) + "·" +
      quantity("w", l, [i, j])).join(" + ") + plus + " = " +
      idx.map((i) => "(" + ctx.fmt(a[i]) + ")(" + ctx.fmt(W[i][j]) + ")").join(" + ") +
      (b ? " + " + ctx.fmt(bias(j)) : "") + " = ", el("strong", {}, ctx.fmt(view.z(l)[j])));
  });
  return [
    para("Each unit of layer " + l + " adds up the activations of layer " + (l - 1) +
      ", each multiplied by the weight on its edge" + (b ? ", plus its bias" : "") + "."),
    ...lines,
    eq("z" + sup(l) + " = ", vectorText(ctx, view.z(l))),
  ];
}

function narrateA(ctx, view, l) {
  const name = view.activation(l), f = activationName(ctx.activations, name), ex = view.ex();
  const lines = perUnit(view.sizes[l], (j) => eq(quantity("a", l, [j], ex) + " = " +
    (name === "softmax" ? "softmax(z" + sup(l) + ")" + sub(j) : f + "(" +
      quantity("z", l, [j], ex) + ") = " + f + "(" + ctx.fmt(view.z(l)[j]) + ")") + " = ",
  el("strong", {}, ctx.fmt(view.a(l)[j]))));
  return [
    para("Each unit applies its activation function to its net input: " +
      ((ctx.activations[name] || {}).def || name) + "."),
    ...lines,
    eq("a" + sup(l) + " = ", vectorText(ctx, view.a(l))),
  ];
}

function narrateLoss(ctx, view) {
  const L = view.depth, loss = view.rec.forward;
  const formula = ctx.lossFormulas[view.net.loss] || "E = " + view.net.loss;
  const out = [
    para("The loss compares the output a = a" + sup(L) + " with the target t: " + formula +
      (view.batch ? ", averaged over the " + view.batch + " examples of the batch." : ".")),
    eq("a" + sup(L) + " = ", vectorText(ctx, view.a(L))),
    eq("t = ", vectorText(ctx, view.target().vector)),
  ];
  if (view.batch) {
    out.push(eq("E per example = ", vectorText(ctx, loss.example_losses)));
  }
  out.push(eq("E = ", el("strong", {}, ctx.fmt(loss.loss))));
  return out;
}

function narrateOutputError(ctx, view) {
  const L = view.depth, values = view.dEda();
  const lines = perUnit(view.sizes[L], (j) => {
    const factor = outputLossFactor(view, j);
    const name = factor ? factor.symbol : "∂E/∂" + quantity("a", L, [j], view.ex());
    return eq(name + (factor ? " = " + factor.formula : "") + " = ",
      el("strong", {}, ctx.fmt(values[j])));
  });
  return [
    para("Backpropagation starts at the loss: how much E changes when each output changes." +
      (view.batch ? " Over a batch the 1/" + view.batch + " of the mean is part of it." : "")),
    ...lines,
  ];
}

function narrateDelta(ctx, view, l) {
  const L = view.depth;
  const words = l < L
    ? "A hidden unit's delta gathers the deltas of layer " + (l + 1) + ", each weighted by " +
      "the edge that leads there, times the slope of its own activation."
    : view.activation(L) === "softmax"
      ? "Every softmax output depends on every z of its layer, so each delta sums over all " +
        "outputs m: ∂E/∂aₘ times ∂aₘ/∂zⱼ."
      : "The delta of an output unit is how E changes with its net input z: the output " +
        "error times the slope of the activation.";
  const lines = perUnit(view.sizes[l], (j) => {
    const exp = view.deltas[view.deltaKey(l, j)];
    return exp ? el("div", { class: "cr-block" }, expansionLines(ctx, exp))
      : eq(quantity("delta", l, [j], view.ex()) + " = ", ctx.fmt(view.delta(l)[j]));
  });
  return [para(words), ...lines, eq("δ" + sup(l) + " = ", vectorText(ctx, view.delta(l)))];
}

function narrateGrad(ctx, view, l) {
  const n = view.batch;
  const acts = view.rows("forward", "a" + (l - 1)), deltas = view.rows("backward", "delta" + l);
  const lines = capped(view.indices("W" + l), MAX_UNITS_LISTED).shown.map(([i, j]) => {
    const key = elementKey("W" + l, [i, j]);
    // One example: a·δ. A batch: Σₙ over the examples' products.
    const ex = n ? "n" : null;
    const products = acts.map((a, e) => "(" + ctx.fmt(a[i]) + ")(" + ctx.fmt(deltas[e][j]) + ")");
    return eq("∂E/∂" + view.paramSymbol(key) + " = " + (n ? "Σₙ " : "") +
      quantity("a", l - 1, [i], ex) + "·" + quantity("delta", l, [j], ex) + " = " +
      sumText(products) + " = ", el("strong", {}, ctx.fmt(view.element("gradients", key))));
  });
  if (view.hasBias) lines.push(...biasGradLines(ctx, view, l));
  const more = view.indices("W" + l).length - MAX_UNITS_LISTED;
  return [
    para("A weight's gradient is the delta of the unit it feeds times the activation that " +
      "flows along it: ∂E/∂w" + sup(l) + "ᵢⱼ = a" + sup(l - 1) + "ᵢ·δ" + sup(l) + "ⱼ" +
      (view.hasBias ? "; a bias's gradient is the delta itself" +
        (view.sharedBias ? ", summed over the units that share it" : "") : "") +
      (n ? ". Over a batch, the products are summed over all " + n + " examples, whichever " +
        "one the picker shows." : ".") + " Select an edge for its full chain-rule product."),
    ...lines,
    more > 0 ? para(el("em", {}, "… and " + more + " more weights in the worksheet below.")) : null,
  ];
}

// ∂E/∂bˡⱼ = δˡⱼ, summed over the examples of a batch and over the units sharing one bias.
function biasGradLines(ctx, view, l) {
  const n = view.batch, shared = view.sharedBias;
  const deltas = view.rows("backward", "delta" + l);
  return capped(view.indices("b" + l), MAX_UNITS_LISTED).shown.map(([j]) => {
    const key = elementKey("b" + l, [j]);
    const units = shared ? deltas[0].map((_, u) => u) : [j];
    const values = deltas.flatMap((row) => units.map((u) => "(" + ctx.fmt(row[u]) + ")"));
    const symbol = (n ? "Σₙ " : "") + (shared ? "Σⱼ " : "") +
      quantity("delta", l, [shared ? "j" : j], n ? "n" : null);
    return eq("∂E/∂" + view.paramSymbol(key) + " = " + symbol + " = " +
      (values.length > 1 ? sumText(values) + " = " : ""),
    el("strong", {}, ctx.fmt(view.element("gradients", key))));
  });
}

function narrateUpdate(ctx, view) {
  const opt = view.net.optimizer || { name: "sgd" };
  const plain = opt.name === "sgd" && !opt.momentum && !opt.weight_decay;
  const eta = view.net.learning_rate;
  const keys = view.paramNames().flatMap((name) =>
    view.indices(name).map((index) => elementKey(name, index)));
  const lines = capped(keys, MAX_UNITS_LISTED).shown.map((key) => {
    const name = parseKey(key).name, symbol = view.paramSymbol(key);
    const old = ctx.fmt(view.element("parameters", key));
    if (view.frozen.has(name)) return eq(symbol + " stays " + old + " (" + name + " is frozen)");
    return eq(symbol + " ← " + (plain ? old + " − " + eta + "·(" +
      ctx.fmt(view.element("gradients", key)) + ")" : "sgd step") + " = ",
    el("strong", {}, ctx.fmt(view.element("updated", key))));
  });
  const before = view.rec.forward.loss, after = view.rec.loss_after;
  const change = before === null || after === null ? NaN : after - before; // null: not finite
  const frozen = [...view.frozen];
  return [
    para(plain ? "Each parameter moves a step against its gradient, scaled by the learning " +
      "rate η = " + eta + ": θ ← θ − η·∂E/∂θ."
      : "The optimizer (sgd, momentum " + opt.momentum + ", weight decay " + opt.weight_decay +
        ") moves each parameter against its gradient with learning rate η = " + eta + "."),
    frozen.length ? para("Frozen, so not updated: " + frozen.join(", ") + ".") : null,
    ...lines,
    keys.length > MAX_UNITS_LISTED
      ? para(el("em", {}, "… all " + keys.length + " parameters are in the worksheet below."))
      : null,
    para("Loss on the same input" + (view.batch ? "s" : "") + " after the update:"),
    eq("E after = ", el("strong", {}, ctx.fmt(after)), " (before " + ctx.fmt(before) +
      (Number.isFinite(change) ? ", " + (change < 0 ? "lower" : change > 0 ? "higher"
        : "unchanged") + " by " + ctx.fmt(Math.abs(change)) : "") + ")"),
  ];
}

function narrate(ctx, view, step) {
  switch (step.kind) {
    case "input": return narrateInput(ctx, view);
    case "z": return narrateZ(ctx, view, step.layer);
    case "a": return narrateA(ctx, view, step.layer);
    case "loss": return narrateLoss(ctx, view);
    case "dEda": return narrateOutputError(ctx, view);
    case "delta": return narrateDelta(ctx, view, step.layer);
    case "grad": return narrateGrad(ctx, view, step.layer);
    default: return narrateUpdate(ctx, view);
  }
}
