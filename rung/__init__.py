"""rung: practical deep learning, from your own data to a trained, checked, explained model.

Importing ``rung`` is cheap: heavy libraries (torch, timm, pandas, scikit-learn) load only
when a name that needs them is first used: ``rung.load``, ``rung.train_images``,
``rung.train_table``, ``rung.search_images``, ``rung.Learner``...

>>> import rung
>>> rung.__version__
'0.1.0'
"""

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it (imported on first use)
_LAZY = {
    "Learner": "rung.learner",
    "DataLoaders": "rung.data.core",
    "TensorLoader": "rung.data.core",
    "load": "rung.predictor",
    "seed_everything": "rung.utils",
    "train_images": "rung.vision.train",
    "train_table": "rung.tabular.train",
    "train_text": "rung.text.train",
    "search_images": "rung.vision.search.images",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'rung' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
