"""The local stack the suite runs the twin on: real PostgreSQL behind real Toxiproxy, and the twin.

    info, started = ensure_up(state_dir, faults=())   # once per run, safe from many processes
    info = read_info(state_dir)                        # stack.json of a running stack, or None
    status(state_dir) / down(state_dir)

`info` is the content of <state>/stack.json (see lifecycle.py for the files and README keys).
"""
from .errors import NotUp, PortTaken, SetupMissing, StackError, UnknownFault
from .lifecycle import default_state_dir, down, ensure_up, fault_switches, read_info, require_up, status, up

__all__ = ["NotUp", "PortTaken", "SetupMissing", "StackError", "UnknownFault", "default_state_dir", "down",
           "ensure_up", "fault_switches", "read_info", "require_up", "status", "up"]
