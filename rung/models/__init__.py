"""Model architectures rung builds by name (kept free of training engineering)."""
