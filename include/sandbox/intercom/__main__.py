"""Command line of the Intercom sandbox.

python -m include.sandbox.intercom serve --port 8102 --state FILE [--token TOKEN]
"""

import argparse

from include.sandbox.intercom import server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m include.sandbox.intercom", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="Serve a local Intercom workspace (REST 2.16).")
    server.add_arguments(serve)
    serve.set_defaults(run=server.run)
    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
