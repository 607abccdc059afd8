"""Lenses on a recorded graph: the dense network's layer-and-unit view (z, a, δ, wˡᵢⱼ and
chain-rule products), read off the graph and the activation and loss tables."""
