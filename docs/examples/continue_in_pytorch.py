"""Train a network with chainrule, then go on training it in PyTorch (docs/pytorch.md).

    python docs/examples/continue_in_pytorch.py [FOLDER]

1. ``chainrule train`` fits a 4-8-3 network to the iris data for 30 epochs and saves it;
2. ``chainrule export --to torch`` writes it as ``iris_net.py`` and ``iris_net.safetensors``;
3. PyTorch loads those, checks that its loss and gradients on the data are chainrule's, and
   trains on with its own optimizer and DataLoader.

Everything is written to FOLDER (default: a new temporary folder). Needs chainrule with its
torch extra (PyTorch and safetensors).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch


def chainrule(*args: str, cwd: Path) -> None:
    subprocess.run([sys.executable, "-m", "chainrule", *args], cwd=cwd, check=True)


def main(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    chainrule("train", "--data", "iris", "--arch", "4-8-3", "--optimizer", "sgd", "--lr",
              "0.1", "--epochs", "30", "--quiet", "--save", "iris.npz", cwd=folder)
    chainrule("export", "iris.npz", "--to", "torch", "-o", "iris_net.py", cwd=folder)

    sys.path.insert(0, str(folder))
    import iris_net  # the file chainrule wrote: PyTorch code, no chainrule in it

    from chainrule.train.datasets.shipped import iris

    data = iris()  # the same 150 flowers chainrule trained on (its split: 80% of them)
    x = iris_net.standardize(torch.as_tensor(data.x))  # the training split's mean and scale
    y = torch.as_tensor(np.asarray(data.y), dtype=torch.long)

    model = iris_net.load()
    logits = model[:-1]  # the network ends in Softmax; CrossEntropyLoss takes the logits
    loss = torch.nn.functional.cross_entropy(logits(x), y)
    loss.backward()

    # the same number from chainrule's side: its model file, its loss
    from chainrule.nn.losses import output_loss
    from chainrule.train.checkpoint import load_model, standardized_input

    ours, state = load_model(folder / "iris.npz")
    xs = np.stack([standardized_input(state, row) for row in data.x])
    z, a, activation = ours.head(xs)
    theirs = output_loss("cross_entropy", z, a, activation, np.eye(3)[data.y])
    theirs.backward()
    gap = np.abs(model[0].weight.grad.numpy().T - ours.layers[0].weight.grad).max()
    print(f"loss on all 150: PyTorch {loss.item():.12f}, chainrule {float(theirs.data):.12f}")
    print(f"largest difference of dE/dW1 between the two: {gap:.1e}")

    # PyTorch from here on: its DataLoader, its optimizer, its training loop
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16,
                                         shuffle=True,
                                         generator=torch.Generator().manual_seed(0))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for epoch in range(1, 61):
        for xb, yb in loader:
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(logits(xb), yb).backward()
            optimizer.step()
        if epoch % 20 == 0:
            with torch.no_grad():
                out = logits(x)
                accuracy = (out.argmax(1) == y).double().mean().item()
                print(f"PyTorch epoch {epoch}: loss "
                      f"{torch.nn.functional.cross_entropy(out, y).item():.4f}, "
                      f"accuracy {accuracy:.1%}")
    torch.save(model.state_dict(), folder / "iris_continued.pt")
    print(f"saved {folder / 'iris_continued.pt'}; chainrule explain --torch reads it back")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="chainrule-")))
