"""What each activation and each loss IS, written once (definition, derivative, LaTeX,
fused partner, parameters): read by the engine, nn, specs, explanations, exercises, verify
and the page. Imports nothing of chainrule."""
