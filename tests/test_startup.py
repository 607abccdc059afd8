"""What `chainrule explain` loads before it answers, and the command line it parses lazily.

Start-up time itself is measured in bench/startup.py, never asserted here; these tests hold
the causes: the modules a text explanation must not import, and the parsers of the commands
not chosen, which are listed in --help but not built.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from chainrule.cli import main as cli
from chainrule.cli.terminal import columns

# Each costs start-up and none is needed to explain the seed network to a pipe: the text
# renderer writes without rich; pathlib, json and shutil are imported where a file is read or
# written, or the terminal measured; torch, sympy and matplotlib belong to verify and train.
NOT_AT_START_UP = ("rich", "pathlib", "json", "shutil", "bz2", "lzma", "torch", "sympy",
                   "matplotlib", "chainrule.verify", "chainrule.train", "chainrule.exercises")


def _modules_after(*arguments: str) -> set[str]:
    script = ("import sys; from chainrule.cli.main import main; code = main(sys.argv[1:]); "
              "print(' '.join(sorted(sys.modules)), file=sys.stderr); sys.exit(code)")
    environment = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    done = subprocess.run([sys.executable, "-c", script, *arguments], capture_output=True,
                          text=True, timeout=120, env=environment)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("seed: a 2-2-1 network")
    return set(done.stderr.split())


def test_explain_to_a_pipe_imports_none_of_the_slow_modules():
    loaded = _modules_after("explain")
    assert {name for name in loaded if name.split(".")[0] in NOT_AT_START_UP
            or name.startswith(NOT_AT_START_UP)} == set()


def test_top_level_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["--help"])
    assert done.value.code == 0
    listed = capsys.readouterr().out
    for name, summary in cli.COMMANDS.items():
        assert name in listed and summary.split()[0] in listed


@pytest.mark.parametrize("command, option", [("explain", "--param"), ("verify", "--answers"),
                                             ("train", "--epochs"), ("exercise", "SUBCOMMAND")])
def test_each_command_has_its_full_parser_when_chosen(capsys, command, option):
    with pytest.raises(SystemExit) as done:
        cli.main([command, "--help"])
    assert done.value.code == 0
    assert option in capsys.readouterr().out


def test_an_option_value_that_names_a_command_does_not_choose_it(tmp_path):
    # the command is the first argument that is not an option, wherever a command's name
    # appears later: `-o verify` writes the explanation to a file called verify
    out = tmp_path / "verify"
    assert cli.main(["explain", "-o", str(out)]) == 0
    assert out.read_text().startswith("seed: a 2-2-1 network")
    assert cli._chosen(["--version"]) is None
    assert cli._chosen(["explain", "-o", "train"]) == "explain"


def test_help_follows_columns(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "50")
    with pytest.raises(SystemExit):
        cli.main(["explain", "--help"])
    narrow = capsys.readouterr().out.splitlines()
    monkeypatch.setenv("COLUMNS", "120")
    with pytest.raises(SystemExit):
        cli.main(["explain", "--help"])
    wide = capsys.readouterr().out.splitlines()
    assert len(narrow) > len(wide)
    # argparse never breaks an option's spelling; every line of prose fits
    assert all(len(line) <= 50 for line in narrow if "{" not in line)
    monkeypatch.setenv("COLUMNS", "not a number")
    assert columns(77) > 0


def test_a_misspelt_command_is_named_with_every_command_it_could_be(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["explian"])
    assert done.value.code == 2
    error = capsys.readouterr().err
    assert "invalid choice: 'explian'" in error
    assert all(f"'{name}'" in error for name in cli.COMMANDS)


def test_the_command_line_offers_the_markings_verify_has():
    # spelled out in cli/main.py so that parsing imports nothing of verify
    from chainrule.verify.judging import MARKINGS

    assert cli.MARKINGS == MARKINGS
