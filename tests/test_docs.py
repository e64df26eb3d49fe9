"""docs/cli.md is the CLI reference: every command and option is documented there and has help text."""

import re
from pathlib import Path

import pytest

from registry_core.cli import build_parser

DOC = Path(__file__).resolve().parent.parent / "docs" / "cli.md"
PARSER = build_parser()
COMMANDS = PARSER._subparsers._group_actions[0].choices


def sections() -> dict[str, str]:
    parts = re.split(r"^## modelreg (\S+)\s*$", DOC.read_text(), flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


def arguments(parser):
    return [a for a in parser._actions if a.dest != "help"]


def test_global_options_have_help_and_are_documented():
    intro = re.split(r"^## ", DOC.read_text(), flags=re.M)[0]
    for action in arguments(PARSER):
        if action.option_strings:
            assert action.help, action.option_strings
            assert all(f"`{o}" in intro for o in action.option_strings), action.option_strings


@pytest.mark.parametrize("name", COMMANDS)
def test_command_has_help_and_a_section_with_an_example(name):
    helps = {a.dest: a.help for a in PARSER._subparsers._group_actions[0]._choices_actions}
    assert helps.get(name), f"command {name} has no help text"
    body = sections().get(name)
    assert body is not None, f"docs/cli.md has no '## modelreg {name}' section"
    examples = re.findall(r"```console\n(.*?)```", body, flags=re.S)
    assert any(re.search(rf"^\$ modelreg (--\S+ \S+ )*{re.escape(name)}\b", e, flags=re.M) for e in examples), \
        f"section {name} has no ```console example running it"


@pytest.mark.parametrize("name", COMMANDS)
def test_every_option_has_help_and_is_in_its_section(name):
    body = sections().get(name, "")
    for action in arguments(COMMANDS[name]):
        label = action.option_strings or [action.dest]
        assert action.help, f"{name} {label} has no help text"
        if action.option_strings:
            for option in action.option_strings:
                assert re.search(rf"`{re.escape(option)}\b", body), f"{name} {option} is not in docs/cli.md"
        else:
            shown = (action.metavar or action.dest).upper()
            assert f"`{shown}`" in body, f"{name} argument {shown} is not in docs/cli.md"


def test_no_section_for_a_command_that_does_not_exist():
    assert set(sections()) <= set(COMMANDS)
