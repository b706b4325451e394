# The suite's pytest plugin (src/cloudflow_checks/plugin.py) is registered through the package's
# pytest11 entry point, so a plain `pytest checks/` works from here once set-up has run.
