"""CloudFlow Check & Chaos Suite: checks a CloudFlow deployment against its troubleshooting guide."""

__version__ = "0.1.0"
