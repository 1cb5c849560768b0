"""The command line: ``python run.py COMMAND`` (installed as ``policy-lifecycle``).

The commands are in ``cli/``, imported from here rather than written here: a script run
directly is compiled from source at every start (23 ms of `status`'s 170), a module imported
keeps its bytecode."""

import sys

from cli.main import cli, main

__all__ = ["cli", "main"]

if __name__ == "__main__":
    sys.exit(cli.main(prog_name="run.py"))
