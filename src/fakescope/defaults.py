"""Product defaults shared by the CLI, the Python API, the server and the web app (no heavy imports).

Each default was chosen by measurement: see ``bench/RESULTS.md`` ("Trust") for the numbers.
"""

# measured in bench/RESULTS.md ("Trust"): the two Deepfake-trained MesoNets as a calibrated ensemble beat
# MesoInception-4 alone on held-out inputs (0 vs 1 of 36 real inputs judged fake, same 4 of 18 deepfakes)
DEFAULT_MODEL = "mesoinception4,meso4"
