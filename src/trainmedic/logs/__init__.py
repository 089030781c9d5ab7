"""Reading logs: formats, timestamps, rank/node attribution, tail reading."""
