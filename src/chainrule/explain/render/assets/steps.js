// The model behind the page: one recorded step seen for one example, and the list of steps
// the reader walks through (forward, loss, backward, update).

// One recorded training step's numbers, seen for one example of the batch: for a batch the
// trace stores (example, unit) rows, a single example stores plain vectors.
class View {
  constructor(data, record, example) {
    this.net = data.network;
    this.rec = record;
    this.sizes = this.net.layers;
    this.depth = this.sizes.length - 1;
    this.batch = this.net.batch_size; // null for a single example
    this.example = this.batch ? example : 0;
    this.hasBias = this.net.bias !== "none";
    this.sharedBias = this.net.bias === "shared_per_layer";
    this.frozen = new Set(this.net.frozen || []);
    this.chain = record.chain || {};
    this.deltas = record.deltas || {};
  }

  row(values) { return this.batch ? values[this.example] : values; }
  a(layer) { return this.row(this.rec.forward["a" + layer]); }
  z(layer) { return this.row(this.rec.forward["z" + layer]); }
  delta(layer) { return this.row(this.rec.backward["delta" + layer]); }
  dEda() { return this.row(this.rec.backward["dE_da" + this.depth]); }
  activation(layer) { return this.net.activations[layer - 1]; }
  W(layer) { return this.rec.parameters["W" + layer]; }
  b(layer) { return this.hasBias ? this.rec.parameters["b" + layer] : null; }
  // The example superscript of symbols, as chainrule.explain.notation writes it: a¹⁽²⁾₁.
  ex() { return this.batch ? this.example : null; }

  // All examples' rows of a forward/backward quantity, for sums over the batch.
  rows(group, name) {
    const values = this.rec[group][name];
    return this.batch ? values : [values];
  }

  // The target as a vector; a class index (cross-entropy) becomes its one-hot vector.
  target() {
    const raw = this.row(this.net.target);
    if (typeof raw !== "number") return { vector: raw, label: null };
    const vector = Array.from({ length: this.sizes[this.depth] }, (_, k) => (k === raw ? 1 : 0));
    return { vector, label: raw };
  }

  // Key of δˡⱼ in the trace's `deltas`: delta1[0], or delta1[n,0] in a batch.
  deltaKey(layer, unit) {
    return "delta" + layer + "[" + (this.batch ? this.example + "," : "") + unit + "]";
  }

  paramNames() { return Object.keys(this.rec.parameters); }

  // Every element index of a parameter: [i, j] for a weight matrix, [j] for a bias vector.
  indices(name) {
    const values = this.rec.parameters[name];
    if (!Array.isArray(values[0])) return values.map((_, j) => [j]);
    return values.flatMap((row, i) => row.map((_, j) => [i, j]));
  }

  // The value of one element of a parameter-shaped group: parameters, gradients or updated.
  element(group, key) {
    const { name, index } = parseKey(key);
    return index.reduce((values, i) => values[i], this.rec[group][name]);
  }

  // w¹₁₂, b¹₂, or b¹ for a bias shared by its layer.
  paramSymbol(key) {
    const p = parseKey(key);
    if (p.weight) return quantity("w", p.layer, p.index);
    return this.sharedBias ? quantity("b", p.layer) : quantity("b", p.layer, p.index);
  }
}

// What each activation is (symbol, definition, diagram label) comes from chainrule's activation
// table, embedded in the page as data (ctx.activations), not copied here.
function activationName(activations, name) {
  return (activations[name] || { f: name }).f;
}

// The full list of steps; `only` later keeps one phase. Each step says what it computes
// (`kind`, `layer`) and what the diagram highlights while it is shown.
function stepList(view, activations) {
  const L = view.depth;
  const steps = [];
  const add = (phase, kind, layer, short, title, highlight) => {
    steps.push({ phase, kind, layer, short, title, highlight, index: steps.length });
  };
  const bias = (l) => (view.hasBias ? " + b" + sup(l) : "");
  add("forward", "input", 0, "x", "Input a⁰", { units: [0] });
  for (let l = 1; l <= L; l++) {
    add("forward", "z", l, "z" + sup(l), "Net input z" + sup(l) + " = a" + sup(l - 1) + "·W" +
      sup(l) + bias(l), { units: [l - 1, l], edges: [l], biases: [l], labels: ["z", l] });
    add("forward", "a", l, "a" + sup(l), "Activation a" + sup(l) + " = " +
      activationName(activations, view.activation(l)) + "(z" + sup(l) + ")",
      { units: [l], labels: ["a", l] });
  }
  add("forward", "loss", L, "E", "Loss E", { units: [L], loss: true, labels: ["a", L] });
  add("backward", "dEda", L, "∂E/∂a" + sup(L), "Output error ∂E/∂a" + sup(L),
    { units: [L], loss: true, labels: ["dEda", L] });
  for (let l = L; l >= 1; l--) {
    const uses = l === L ? { units: [L] } : { units: [l, l + 1], edges: [l + 1] };
    add("backward", "delta", l, "δ" + sup(l), "Delta δ" + sup(l) + " = ∂E/∂z" + sup(l),
      { ...uses, labels: ["delta", l] });
    add("backward", "grad", l, "∂W" + sup(l), "Gradients ∂E/∂W" + sup(l) +
      (view.hasBias ? ", ∂E/∂b" + sup(l) : ""),
    { units: [l - 1, l], edges: [l], biases: [l], labels: ["delta", l] });
  }
  const all = Array.from({ length: L }, (_, i) => i + 1);
  add("update", "update", null, "θ′", "Update θ ← θ − η·∂E/∂θ", { edges: all, biases: all });
  return steps;
}

// The index of the step that computes each quantity: a value is shown once that step (or a
// later one) is reached, so the page fills in as the reader steps.
function revealIndex(steps) {
  const at = {};
  for (const step of steps) {
    const key = { input: "a0", z: "z" + step.layer, a: "a" + step.layer, loss: "loss",
      dEda: "dEda", delta: "delta" + step.layer, grad: "grad" + step.layer,
      update: "update" }[step.kind];
    at[key] = step.index;
  }
  return at;
}
