"""Deep learning from scratch: plain torch/numpy versions of what the library does."""
