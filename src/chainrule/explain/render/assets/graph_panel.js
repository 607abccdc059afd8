// The graph page's words: forward formulas with their numbers, chain-rule terms, path sums,
// and the side panel that shows them for the selected node or wire. Every number comes from
// the embedded graph; a term is the consumer's gradient times the wire's local derivative.

const BRIEF_ELEMENTS = 4; // an array this long or shorter is written out on the diagram

function wording(view, precision) {
  const nodes = view.nodes;
  const edges = view.edges;
  const out = nodes[view.output].name;
  // a number, or an array (nested lists) written as NumPy prints one: [[0.2, 0.4], [0.1, 0.3]]
  const fmt = (v) => (Array.isArray(v) ? "[" + v.map(fmt).join(", ") + "]"
    : formatNumber(v, precision));
  const wrap = (v) => (fmt(v).startsWith("-") ? "(" + fmt(v) + ")" : fmt(v)); // in a sum
  // On the diagram: a number, a short array in full, a longer one by its shape (the panel
  // shows every element).
  const count = (v) => (Array.isArray(v) ? v.reduce((n, x) => n + count(x), 0) : 1);
  const shape = (v) => (Array.isArray(v) ? [v.length].concat(v.length ? shape(v[0]) : []) : []);
  const brief = (v) => (count(v) <= BRIEF_ELEMENTS || !Array.isArray(v) ? fmt(v)
    : "[" + shape(v).join("×") + "]");
  const d = (i) => "∂" + out + "/∂" + nodes[i].name;
  const local = (k) => "∂" + nodes[edges[k].target].name + "/∂" + nodes[edges[k].source].name;
  const inputOf = (i, slot) => edges[nodes[i].in_edges[slot]].source;

  function forward(i, withNumbers) {
    const node = nodes[i];
    if (node.leaf) return node.name + " = " + fmt(node.value) + " (an input)";
    const by = (f) => node.forward.map((p) => (typeof p === "number" ? f(inputOf(i, p)) : p))
      .join("");
    const names = by((j) => nodes[j].name);
    if (!withNumbers) return node.name + " = " + names;
    return node.name + " = " + names + " = " + by((j) => "(" + fmt(nodes[j].value) + ")") +
      " = " + fmt(node.value);
  }
  // "∂f/∂q · ∂q/∂x = (-4.0000)(1.0000) = -4.0000"
  function term(k) {
    const e = edges[k];
    if (e.vjp || e.local === null) { // a Jacobian, not a number: the rule's g·J, g = ∂out/∂target
      return d(e.target) + " · " + local(k) + " = " + fmt(e.contribution) + " (the rule " +
        (e.expression || "g·J") + ", with g = " + d(e.target) + ")";
    }
    return d(e.target) + " · " + local(k) + " = (" + fmt(nodes[e.target].grad) + ")(" +
      fmt(e.local) + ") = " + fmt(e.contribution);
  }
  // The lines of ∂out/∂node: one chain-rule product per use, then their sum.
  function gradient(i) {
    const node = nodes[i];
    if (i === view.output) {
      return [d(i) + " = " + fmt(node.grad) + " (the output: the chain rule starts here)"];
    }
    const uses = node.out_edges;
    if (!uses.length) {
      return [d(i) + " = " + fmt(node.grad) + ": " + node.name + " is not used on the way to " +
        out];
    }
    if (uses.length === 1) return [d(i) + " = " + term(uses[0])];
    const numbers = uses.every((k) => !edges[k].vjp && edges[k].local !== null);
    const lines = [
      d(i) + " = " + uses.map((k) => d(edges[k].target) + " · " + local(k)).join(" + "),
    ].concat(numbers ? ["= " + uses.map((k) => "(" + fmt(nodes[edges[k].target].grad) + ")(" +
      fmt(edges[k].local) + ")").join(" + ")] : []).concat([
      "= " + uses.map((k) => wrap(edges[k].contribution)).join(" + "),
      "= " + fmt(node.path_sum) + " (" + uses.length + " paths: " + node.name + " is used " +
        uses.length + " times)",
    ]);
    return lines.concat(mismatch(i));
  }
  function mismatch(i) {
    const node = nodes[i];
    if (!node.sum_differs) return [];
    return ["The trace records " + d(i) + " = " + fmt(node.grad) + "; its paths sum to " +
      fmt(node.path_sum) + "."];
  }
  function localLine(k) {
    const e = edges[k];
    if (nodes[e.source].grad === null) {
      return nodes[e.source].name + " is a constant: no gradient goes back to it";
    }
    // The table's derivative in the node's names, then its number at the page's precision;
    // data without the expression falls back to its formula as written.
    if (e.vjp) {
      return local(k) + " is a Jacobian, not one number: back along this wire goes g·J = " +
        fmt(e.contribution) + ", by the rule " + (e.expression || "g·J") + " with g = " +
        d(e.target);
    }
    if (e.expression) return local(k) + " = " + e.expression + " = " + fmt(e.local);
    const formula = e.formula || local(k) + " (no formula recorded)";
    return formula + "; here " + local(k) + " = " + fmt(e.local);
  }
  function wireName(k) {
    return nodes[edges[k].source].name + " → " + nodes[edges[k].target].name;
  }
  return { fmt, brief, d, local, forward, term, gradient, localLine, wireName };
}

function nodeDescription(words, view, i) {
  const node = view.nodes[i];
  return (node.leaf ? "Input " : "Node ") + words.forward(i, false) + ": value " +
    words.fmt(node.value) + ", gradient " + words.d(i) + " = " + words.fmt(node.grad);
}

function edgeDescription(words, view, k) {
  const e = view.edges[k];
  return "Wire " + words.wireName(k) + ": carries " + words.fmt(view.nodes[e.source].value) +
    " forward and " + words.fmt(e.contribution) + " back";
}

// The side panel's content for a selection ({node: i} or {edge: k}).
function panelContent(words, view, selection) {
  const lines = (items) => items.map((text) => el("p", { class: "gp-chain" }, text));
  if (selection.node !== undefined) {
    const i = selection.node;
    const node = view.nodes[i];
    const parts = [
      el("h3", { class: "gp-panel-title" }, (node.leaf ? "Input " : "Node ") + node.name),
      el("h4", {}, "Forward"), lines([words.forward(i, true)]),
      el("h4", {}, "Backward"), lines(words.gradient(i)),
    ];
    if (node.in_edges.length) {
      parts.push(el("h4", {}, "Local derivatives"), lines(node.in_edges.map(words.localLine)));
    }
    return parts;
  }
  const k = selection.edge;
  const e = view.edges[k];
  const source = view.nodes[e.source];
  const path = { count: source.out_edges.length };
  const parts = [
    el("h3", { class: "gp-panel-title" }, "Wire " + words.wireName(k)),
    el("h4", {}, "Local derivative"), lines([words.localLine(k)]),
    el("h4", {}, "Chain-rule step"),
  ];
  if (path.count === 1) {
    parts.push(lines([words.d(e.source) + " = " + words.term(k)]));
  } else {
    parts.push(lines([words.term(k)]), el("p", {}, "This wire is one of the " + path.count +
      " paths from " + source.name + "; " + words.d(e.source) + " is their sum:"),
    lines(words.gradient(e.source)));
  }
  return parts;
}
