"""Command-line interface: click commands, thin over the packages below."""
