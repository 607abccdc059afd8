"""Verification: gradients checked independent ways, and someone else's backprop diagnosed.

``gradcheck`` (finite differences), ``torch_check`` (PyTorch), ``symbolic`` (sympy) and
``report`` (all of them side by side, ``chainrule verify``); ``mistakes`` (the catalogue of known
mistakes, computed by ``reference``), ``answers`` and ``impl`` (judging someone's numbers or
function, with ``judging``, ``answer_files`` and the subprocess ``runner``). Submodules are
imported on use, so that ``import chainrule`` stays light.
"""
