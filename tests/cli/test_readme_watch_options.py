"""Every option of `kubetune watch` is in docs/cli.md (the README's Analyse results in
full), not only in --help (QA76 L10: `--interval` and `--timeout` were not, though
`make demo` uses `--timeout`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from kubetune.cli.main import build_parser

CLI_DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
COMMON = {"--help", "--namespace", "--context", "--kubeconfig"}
"""Options of every command, which docs/cli.md describes once for all of them."""


def test_the_readme_describes_every_option_of_watch() -> None:
    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    watch = commands.choices["watch"]
    options = {o for a in watch._actions for o in a.option_strings if o.startswith("--")}
    assert {"--interval", "--timeout"} <= options
    text = CLI_DOC.read_text()
    assert [
        o for o in sorted(options - COMMON) if f"`{o} " not in text and f" {o} " not in text
    ] == []
