"""Online detectors, one module each (hang, crash, straggler, nan, peer_outlier, ...)."""
