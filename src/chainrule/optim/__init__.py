"""Optimizers (SGD with momentum, Nesterov and weight decay; Adam) and learning-rate
schedules, over nn's parameters."""

from chainrule.optim.optimizers import *  # noqa: F403 (the public names, as chainrule.optim.X)
from chainrule.optim.optimizers import __all__  # noqa: F401
