// The graph page's steps: the whole graph first, then forward node by node (topological
// order, as the trace lists them), then backward from the output's seed wire by wire, each
// node's inputs in turn, from the output back. A node's gradient appears once every one of
// its paths has come back; each step is announced in words.

function buildSteps(view) {
  const steps = [{ kind: "all" }];
  view.nodes.forEach((_, i) => steps.push({ kind: "forward", node: i }));
  steps.push({ kind: "seed", node: view.output });
  const reaches = view.nodes.map((_, i) => i === view.output);
  for (let j = view.output; j >= 0; j--) {
    if (!reaches[j]) continue;
    for (const k of view.nodes[j].in_edges) {
      reaches[view.edges[k].source] = true;
      steps.push({ kind: "backward", edge: k });
    }
  }
  return steps;
}

// What step s shows: which values, gradients and path terms, and what is current.
function stepState(view, steps, s) {
  const all = s === 0 || s === steps.length - 1;
  const value = view.nodes.map((_, i) => all || s >= 1 + i);
  const seed = view.nodes.length + 1;
  const term = view.edges.map(() => all);
  const pending = view.nodes.map((node) => node.out_edges.length);
  for (let t = seed + 1; t <= s; t++) {
    term[steps[t].edge] = true;
    pending[view.edges[steps[t].edge].source] -= 1;
  }
  const grad = view.nodes.map((node, i) => all || (i === view.output ? s >= seed :
    s > seed && node.out_edges.length > 0 && pending[i] === 0));
  const step = steps[s];
  return { value, grad, term, node: step.node, edge: step.edge };
}

function announce(words, view, steps, s) {
  const step = steps[s];
  const where = "Step " + s + " of " + (steps.length - 1) + ". ";
  if (step.kind === "all") {
    return where + "The whole graph: every value and gradient. Next steps forward.";
  }
  if (step.kind === "forward") return where + "Forward: " + words.forward(step.node, true);
  if (step.kind === "seed") {
    return where + "Backward starts at the output: " + words.gradient(step.node)[0];
  }
  const k = step.edge;
  const source = view.edges[k].source;
  const uses = view.nodes[source].out_edges.length;
  if (uses === 1) {
    return where + "Backward, wire " + words.wireName(k) + ": " + words.d(source) + " = " +
      words.term(k);
  }
  // The how-many-th of the source's paths to come back (not its index among the wires).
  const back = steps.slice(0, s + 1).filter((t) => t.kind === "backward" &&
    view.edges[t.edge].source === source).length;
  let text = where + "Backward, wire " + words.wireName(k) + ", path " + back + " of " + uses +
    " into " + words.d(source) + ": " + words.term(k);
  if (back === uses) {
    text += ". All paths in: " + words.d(source) + " = " + words.gradient(source).slice(2, 4)
      .map((line) => line.replace(/^= /, "")).join(" = ");
  }
  return text;
}
