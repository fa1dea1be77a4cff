"""`rlagent new-task`: ready-to-run packages for custom tasks."""
