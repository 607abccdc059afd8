"""The expression language of ``--expr`` and expression spec files: parsed with ``ast``
and a whitelist (never eval), evaluated on the engine's tensors."""
