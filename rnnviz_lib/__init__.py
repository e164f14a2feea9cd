"""rnnviz: a reproduction of Karpathy, Johnson & Fei-Fei, *Visualizing and Understanding
Recurrent Networks* (2015)."""

import logging

from rnnviz_lib.errors import RnnvizError

__version__ = "0.1.0"
__all__ = ["RnnvizError", "__version__"]

logging.getLogger(__name__).addHandler(logging.NullHandler())
