"""Controller HTTP API and dashboard pages."""
