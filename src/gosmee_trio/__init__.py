"""gosmee-trio: a webhook relay on Trio, a drop-in peer of gosmee and smee.io."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gosmee-trio")
except PackageNotFoundError:  # pragma: no cover - only when run from a bare source tree
    __version__ = "dev"

__all__ = ["__version__"]
