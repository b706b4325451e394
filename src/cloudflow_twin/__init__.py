"""cloudflow-twin: a local model of CloudFlow 3.2.1 as its troubleshooting guide documents it."""

__version__ = "3.2.1"
