"""Explanations, built on the recorded graph: the graph as data (graph, graph_data), the
layer lens over it (lens/), notation, the network step's trace, and the renderers (render/)."""
