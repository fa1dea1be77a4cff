"""Task suites: examples, environments and verifiers."""
