"""chainrule and PyTorch, both ways, above every other layer.

* In: :func:`from_torch` turns a live ``torch.nn`` model (a Sequential, or any module whose
  forward ``torch.fx`` traces through the supported parts) into a chainrule network with the
  same weights; :func:`torch_spec` gives it as a spec, :func:`torch_names` maps the names.
* Out: ``model.to_torch()`` (:mod:`chainrule.nn.torch_export`) and, as files,
  :mod:`chainrule.interop.export`: readable PyTorch code with safetensors weights, or ONNX.
"""

from chainrule.interop.torch_in import (SUPPORTED, TorchImportError, from_torch, torch_names,
                                        torch_spec)

__all__ = ["SUPPORTED", "TorchImportError", "from_torch", "torch_names", "torch_spec"]
