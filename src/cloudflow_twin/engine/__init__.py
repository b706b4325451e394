"""The twin's workflow engine: runs PENDING executions from PostgreSQL as the guide documents."""
