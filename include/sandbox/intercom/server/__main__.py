"""`python -m include.sandbox.intercom.server --state FILE ...`: the `serve` command on its own."""

import argparse

from include.sandbox.intercom.server import add_arguments, run

parser = argparse.ArgumentParser(prog="python -m include.sandbox.intercom.server", description=__doc__)
add_arguments(parser)
run(parser.parse_args())
