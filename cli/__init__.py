"""The command line: noun groups, thin commands (``cli/main.py``), started by ``run.py``."""
