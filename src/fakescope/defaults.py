"""Product defaults shared by the CLI, the Python API, the server and the web app (no heavy imports).

Each default was chosen by measurement: see ``bench/RESULTS.md`` ("Trust") for the numbers.
"""

DEFAULT_MODEL = "mesoinception4"
