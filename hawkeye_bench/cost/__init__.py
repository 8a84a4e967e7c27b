"""cost: see docs/ARCHITECTURE.md."""
