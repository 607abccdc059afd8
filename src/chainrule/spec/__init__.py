"""Network specs: reading, validating and building the network a spec file describes, and
the size limits every spec is held to."""

from chainrule.spec.network import (
    MAX_EXAMPLES, MAX_EXPLAINED, MAX_LAYERS, MAX_PARAMETERS, MAX_STEPS, MAX_UNITS, PRESETS,
    OptimizerSpec, Spec, check_explainable, load_spec, parse_spec, read_spec_file,
)

__all__ = ["MAX_EXAMPLES", "MAX_EXPLAINED", "MAX_LAYERS", "MAX_PARAMETERS", "MAX_STEPS",
           "MAX_UNITS", "PRESETS", "OptimizerSpec", "Spec", "check_explainable", "load_spec",
           "parse_spec", "read_spec_file"]
