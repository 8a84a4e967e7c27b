"""grading: see docs/ARCHITECTURE.md."""
