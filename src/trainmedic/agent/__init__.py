"""The node agent: vendor collectors, kernel-log watching, detectors, Prometheus exporter."""
