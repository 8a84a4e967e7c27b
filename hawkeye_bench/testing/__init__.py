"""testing: see docs/ARCHITECTURE.md."""
