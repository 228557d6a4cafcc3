"""Training and evaluation (needs the `train` extra for plots and the datasets loaders)."""
