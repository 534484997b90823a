"""Command line of the ASAPP sandbox: `generate` writes a dataset, `serve` serves one.

python -m include.sandbox.asapp generate --out DIR --seed 7 --conversations 1000
python -m include.sandbox.asapp serve --data DIR --port 8101
"""

import argparse
import importlib

COMMANDS = {
    "generate": ("include.sandbox.asapp.generator", "Write a deterministic ASAPP dataset to a directory."),
    "serve": ("include.sandbox.asapp.server", "Serve a dataset directory as ASAPP's export channels."),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m include.sandbox.asapp", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        sub = commands.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
