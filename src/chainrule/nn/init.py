"""Weight initialisation, always from an explicit ``numpy.random.Generator``.

==================  ===========================================  ==========================
name                distribution                                 reference
==================  ===========================================  ==========================
``xavier_uniform``  U(−r, r), r = √(6 / (fan_in + fan_out))      Glorot & Bengio (2010)
``xavier_normal``   N(0, 2 / (fan_in + fan_out))                 Glorot & Bengio (2010)
``he_uniform``      U(−r, r), r = √(6 / fan_in)                  He et al. (2015)
``he_normal``       N(0, 2 / fan_in)                             He et al. (2015)
==================  ===========================================  ==========================

``xavier`` means ``xavier_uniform`` and ``he`` means ``he_normal``. ``auto`` picks He for
relu-like layers and Xavier otherwise. Biases start at zero.
"""

from __future__ import annotations

import numpy as np

from chainrule.tables.activations import ACTIVATION_TABLE
from chainrule.errors import SpecError
from chainrule.nn.activations import unknown_name_message


def xavier_uniform(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out))


def xavier_normal(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    return rng.normal(0.0, np.sqrt(2.0 / (fan_in + fan_out)), size=(fan_in, fan_out))


def he_uniform(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    limit = np.sqrt(6.0 / fan_in)
    return rng.uniform(-limit, limit, size=(fan_in, fan_out))


def he_normal(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_in, fan_out))


INITIALIZERS = {
    "xavier_uniform": xavier_uniform,
    "xavier_normal": xavier_normal,
    "he_uniform": he_uniform,
    "he_normal": he_normal,
}
ALIASES = {"xavier": "xavier_uniform", "glorot": "xavier_uniform", "he": "he_normal",
           "kaiming": "he_normal"}
INIT_NAMES = ("auto", *INITIALIZERS, *ALIASES)


def resolve_init(name: str, activation: str) -> str:
    """The initialiser's full name; ``auto`` is He for relu-like layers, Xavier otherwise."""
    if name == "auto":
        entry = ACTIVATION_TABLE.get(activation)
        return "he_normal" if entry is not None and entry.kink else "xavier_uniform"
    name = ALIASES.get(name, name)
    if name not in INITIALIZERS:
        raise SpecError(unknown_name_message("init", name, dict.fromkeys(INIT_NAMES)))
    return name


def init_weight(
    name: str, activation: str, fan_in: int, fan_out: int, rng: np.random.Generator
) -> np.ndarray:
    return INITIALIZERS[resolve_init(name, activation)](fan_in, fan_out, rng)


def as_rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    """An explicit generator from a seed (None: fresh entropy, not reproducible)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)
