"""The in-job library: stdlib only, works on daemon threads, never raises into the training step."""
