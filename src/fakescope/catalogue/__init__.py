"""Published detector weights: the catalogue (data), and pulling, checking, converting and installing them.

``fakescope weights list|show|pull|add|remove|verify`` is a thin layer over these functions.
Installed weights live under ``$FAKESCOPE_HOME/weights`` and are models like any other:
``create_model(NAME)``, ``analyze --model NAME``, the HTTP API and the web app list them: importing
this package registers the catalogue as a source of models (:mod:`.source`), the model registry does
not import it.
"""

from .entries import CatalogueEntry, CatalogueFile, get_entry, load_catalogue
from .install import LicenceNotAccepted, add, adhoc_entry, list_rows, pull, recorded_hashes, remove, verify
from .source import register
from .store import create_installed_model, fakescope_home, installed_model_info, list_installed, read_manifest

register()

__all__ = [
    "CatalogueEntry",
    "CatalogueFile",
    "LicenceNotAccepted",
    "add",
    "adhoc_entry",
    "create_installed_model",
    "fakescope_home",
    "get_entry",
    "installed_model_info",
    "list_installed",
    "list_rows",
    "load_catalogue",
    "pull",
    "read_manifest",
    "recorded_hashes",
    "register",
    "remove",
    "verify",
]
