"""Quality: canary suites, verifiers, detectors."""
