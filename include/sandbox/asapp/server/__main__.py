"""`python -m include.sandbox.asapp.server --data DIR ...`: the `serve` command on its own, which the
launcher uses so that starting a server never depends on the generator's imports."""

import argparse

from . import add_arguments, run

parser = argparse.ArgumentParser(prog="python -m include.sandbox.asapp.server", description=__doc__)
add_arguments(parser)
run(parser.parse_args())
