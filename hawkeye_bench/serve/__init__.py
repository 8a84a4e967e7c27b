"""serve: see docs/ARCHITECTURE.md."""
