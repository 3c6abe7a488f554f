"""The ``glass-tune`` parser: the verbs of each group module, -v/-q everywhere, and ``main``.

User mistakes (``UserError``) end as one line on stderr with exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence

from glass_tune import __version__
from glass_tune.cli import data, jobs, predict, results, search, tracking, train
from glass_tune.cli.common import HelpFormatter, add_verbosity_flags
from glass_tune.util.errors import UserError, did_you_mean
from glass_tune.util.logs import setup_console


class _Parser(argparse.ArgumentParser):
    """argparse's usage errors, with "did you mean" for a mistyped verb or choice.

    An error about one argument ("argument --threshold: expected ...") names it and what it takes, so
    it is one line, as every user error; a missing or unknown argument also shows the usage.
    """

    def error(self, message: str):  # type: ignore[override]
        typo = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if typo:
            message += did_you_mean(typo.group(1), re.findall(r"'([^']*)'", typo.group(2)))
        if message.startswith("argument "):
            self.exit(2, f"{self.prog}: error: {message}\n")
        super().error(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="glass-tune",
        description="Train and tune GLASS anomaly detection; `glass-tune VERB --help` explains each verb.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"glass-tune {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="VERB")
    train.register(sub)
    tune = search.register(sub)
    data.register(sub)
    results.register(sub)
    predict.register(sub)
    tracking.register(sub)
    jobs.register(sub, tune=tune)
    add_verbosity_flags(parser, top=True)
    for verb in sub.choices.values():
        add_verbosity_flags(verb, top=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    setup_console()  # parse-time warnings (deprecated flags) reach the console too
    args = build_parser().parse_args(argv)
    setup_console(verbosity=args.verbosity)  # progress lines on stdout, warnings on stderr
    try:
        return args.func(args)
    except UserError as exc:
        print(f"glass-tune {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"glass-tune {args.command}: interrupted", file=sys.stderr)
        return 130
