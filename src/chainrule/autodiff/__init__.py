"""The engine: the op table (what each primitive computes, its vjp and how it is written),
reverse-mode backward over recorded nodes, and the Tensor surface. Imports only the layer
below it (errors, tables)."""
