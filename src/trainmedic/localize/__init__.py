"""From symptoms to the culprit card: collective progress wavefront, rank -> card mapping."""
