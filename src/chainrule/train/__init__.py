"""Training real networks on small datasets: the fit loop, datasets, batches,
checkpoints and plots."""
