"""Run reports: summary.json (versioned schema), summary.md, and the pieces other reports reuse."""
