"""endpoints: see docs/ARCHITECTURE.md."""
