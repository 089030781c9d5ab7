"""`trainmedic run`: supervises a torchrun-style job end to end."""
