"""The data rung: splitters, datasets from folders/CSV/DataFrames, transforms, loaders."""
