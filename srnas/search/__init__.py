"""Architecture search: supernets, mixed ops, alpha regularizers, SDARTS / R-DARTS / Lambda-DARTS step hooks, loop."""
from srnas.search import regularizers  # noqa: F401  (registers the alpha penalties)
from srnas.search import spaces  # noqa: F401,E402  (registers the supernets "imdn" and "dlsr")
