"""chainrule and PyTorch: a user's own ``torch.nn`` model as a chainrule network
(:func:`~chainrule.interop.torch_in.from_torch`), on top of every other layer."""
