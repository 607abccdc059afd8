"""chainrule and PyTorch, both ways, above every other layer.

* In: :func:`from_torch` turns a live ``torch.nn`` model (a Sequential, or any module whose
  forward ``torch.fx`` traces through the supported parts) into a chainrule network with the
  same weights; :func:`torch_spec` gives it as a spec, :func:`torch_names` maps the names.
* Checked: :func:`check_torch_grads` judges a live module's ``.grad`` against chainrule's
  gradients and names the PyTorch-code mistake (no ``zero_grad``, a summed loss, …).
* Out: ``model.to_torch()`` (:mod:`chainrule.nn.torch_export`) and, as files,
  :mod:`chainrule.interop.export`: readable PyTorch code with safetensors weights, or ONNX.
"""

from chainrule.interop.torch_grads import TorchGradReport, check_torch_grads
from chainrule.interop.torch_in import (SUPPORTED, TorchImportError, from_torch, torch_names,
                                        torch_spec)

__all__ = ["SUPPORTED", "TorchGradReport", "TorchImportError", "check_torch_grads",
           "from_torch", "torch_names", "torch_spec"]
