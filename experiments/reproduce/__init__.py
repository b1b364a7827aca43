"""One command that reproduces the lecture's headline claims over seeds (REPORT.md)."""
