"""The docs cannot rot: every fenced block in README.md and docs/*.md is checked against the code.

- ```<language> path=<file>: the block is those lines of the repository file, verbatim (the suite runs the file).
- ```<language> test=<name>: config/tests/test_<name>.py runs the block itself (e.g. in a new project).
- ```python: the block runs, with Django set up and the test database behind it.
- ```sh: one command per line, each real: a Make target, a management command that accepts its arguments, a
  script, a benchmark and its flags, a test path, a URL the site routes, or one of a few known programs.
- ```json, ```toml and ```ini parse; ```sql runs as the owner inside a transaction that is rolled back.
- ```text: diagrams and output, not run.
Relative links must point at files that exist.
"""

from __future__ import annotations

import configparser
import json
import re
import shlex
import sys
import tomllib
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.core.management import CommandError, get_commands, load_command_class
from django.db import connections, transaction
from django.urls import Resolver404, resolve

ROOT = Path(settings.BASE_DIR)
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LANGUAGES = {"python", "sh", "text", "json", "toml", "ini", "sql"}
# Programs a command line may run besides the repository's own (make, manage.py, scripts, bench, pytest, curl).
KNOWN_PROGRAMS = {
    *("git", "pip", ".venv/bin/pip", "honcho", "cd", "kill", "sleep", "runuser"),
    *("psql", "pg_ctl", "pg_dump", "pg_restore", "createdb", "redis-cli"),
}
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S)
ENV_ASSIGNMENT = re.compile(r"^[A-Z][A-Z0-9_]*=")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    language: str
    options: dict[str, str]
    body: str

    def __str__(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line} ({self.language})"


def blocks() -> list[Block]:
    found = []
    for page in PAGES:
        text = page.read_text()
        for match in FENCE.finditer(text):
            language, *rest = match["info"].split() or [""]
            options = dict(option.split("=", 1) for option in rest if "=" in option)
            indent = match["indent"]  # a block inside a list item: its lines carry the fence's indent
            body = "".join(line.removeprefix(indent) for line in match["body"].splitlines(keepends=True))
            found.append(Block(page, text.count("\n", 0, match.start()) + 1, language, options, body))
    return found


BLOCKS = blocks()


def of(language: str) -> list[Block]:
    return [block for block in BLOCKS if block.language == language]


def test_every_block_says_what_it_is() -> None:
    unnamed = [str(block) for block in BLOCKS if block.language not in LANGUAGES]
    assert unnamed == [], f"blocks need one of {sorted(LANGUAGES)}"


def test_every_block_with_a_path_is_that_file_verbatim() -> None:
    wrong = []
    for block in BLOCKS:
        if "path" in block.options:
            source = ROOT / block.options["path"]
            if not source.is_file() or block.body not in source.read_text():
                wrong.append(f"{block}: not verbatim in {block.options['path']}")
    assert wrong == []


def test_every_block_a_test_runs_names_a_test_that_reads_its_page() -> None:
    wrong = []
    for block in BLOCKS:
        if "test" in block.options:
            test = ROOT / "config" / "tests" / f"test_{block.options['test']}.py"
            if not test.is_file() or block.page.name not in test.read_text():
                wrong.append(f"{block}: no {test.relative_to(ROOT)} that reads {block.page.name}")
    assert wrong == []


def test_every_python_block_without_a_path_runs(committed: None) -> None:
    for block in of("python"):
        if "path" in block.options or "test" in block.options:
            continue
        module = types.ModuleType(f"docs_block_{block.line}")
        sys.modules[module.__name__] = module
        try:
            exec(compile(block.body, str(block), "exec"), module.__dict__)  # noqa: S102 (the repository's own docs)
        finally:
            del sys.modules[module.__name__]


def test_every_json_toml_and_ini_block_parses() -> None:
    for block in of("json"):
        json.loads(block.body)
    for block in of("toml"):
        tomllib.loads(block.body)
    for block in of("ini"):
        configparser.ConfigParser().read_string(block.body)


def test_every_sql_block_runs_as_the_owner(committed: None) -> None:
    class Rollback(Exception):
        pass

    for block in of("sql"):
        if "path" in block.options or "test" in block.options:
            continue
        with pytest.raises(Rollback), transaction.atomic(using="owner"):
            with connections["owner"].cursor() as cursor:
                cursor.execute(block.body)
            raise Rollback


def _commands(body: str) -> list[str]:
    lines = body.replace("\\\n", " ").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def _manage(args: list[str]) -> str | None:
    if not args:
        return "manage.py without a command"
    name, rest = args[0], args[1:]
    commands = get_commands()
    if name not in commands:
        return f"no management command {name!r}"
    command: Any = load_command_class(commands[name], name)
    try:
        command.create_parser("manage.py", name).parse_args(rest)
    except CommandError as exc:
        return f"manage.py {name}: {exc}"
    return None


def _bench(args: list[str]) -> str | None:
    script = ROOT / args[0]
    if not script.is_file():
        return f"no benchmark {args[0]}"
    source = script.read_text()
    unknown = [
        flag.split("=")[0]
        for flag in args[1:]
        if flag.startswith("--") and flag != "--help" and f'"{flag.split("=")[0]}"' not in source
    ]
    return f"{args[0]} has no flag {', '.join(unknown)}" if unknown else None


def problem(line: str) -> str | None:
    """What is wrong with one line of commands (`;`, `&&`, `||` and `|` separate them), or None."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token in (";", "&&", "||", "|", "&"):
            commands.append([])
        else:
            commands[-1].append(token)
    return next((why for words in commands if (why := _command_problem(words))), None)


def _command_problem(words: list[str]) -> str | None:
    while words and (ENV_ASSIGNMENT.match(words[0]) or words[0] in ("env", "-u")):
        words = words[2:] if words[0] == "-u" else words[1:]  # `env -u NAME`: NAME goes with -u
    if not words:
        return None
    program, args = words[0], words[1:]
    if program == "bash" and args:
        program, args = args[0], args[1:]
    if program == "scripts/with-owner.sh":
        return _command_problem(args)
    if program.startswith("scripts/"):
        return None if (ROOT / program).is_file() else f"no script {program}"
    if program == "make":
        targets = set(re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(), re.M))
        missing = [target for target in args if not target.startswith("-") and "=" not in target]
        missing = [target for target in missing if target not in targets]
        return f"no Make target {', '.join(missing)}" if missing else None
    if program in (".venv/bin/python", "python", "python3"):
        if args[:1] == ["manage.py"]:
            return _manage(args[1:])
        if args and args[0].startswith("bench/"):
            return _bench(args)
        if args[:1] == ["-c"]:
            return None  # inline code: the shell fills it in, so it is not checked here
        if args[:2] == ["-m", "pytest"]:
            program, args = ".venv/bin/pytest", args[2:]
        else:
            return f"unknown python invocation {shlex.join(words)!r}"
    if program == ".venv/bin/pytest":
        valued = {"-k", "-m", "-p", "-o", "--durations", "--basetemp", "--timeout"}  # options that take a value
        paths = [
            arg.split("::")[0]
            for before, arg in zip(["", *args], args, strict=False)
            if not arg.startswith("-") and before not in valued
        ]
        missing = [path for path in paths if not (ROOT / path).exists()]
        return f"no test path {', '.join(missing)}" if missing else None
    if program == "curl":
        urls = [arg for arg in args if arg.startswith(("http://", "https://"))]
        for url in urls:
            try:
                resolve(urlsplit(url).path)
            except Resolver404:
                return f"no route for {urlsplit(url).path}"
        return None if urls else "curl without a URL"
    return None if program in KNOWN_PROGRAMS else f"unknown program {program!r}"


def test_every_shell_line_is_a_real_command() -> None:
    run_elsewhere = [block for block in of("sh") if "test" in block.options]
    wrong = [
        f"{block}: {line}: {why}"
        for block in of("sh")
        if block not in run_elsewhere
        for line in _commands(block.body)
        if (why := problem(line))
    ]
    assert wrong == []


def test_every_relative_link_points_at_a_file() -> None:
    broken = []
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert broken == []


def test_the_checks_catch_what_they_are_for() -> None:
    assert problem(".venv/bin/python manage.py no_such_command") == "no management command 'no_such_command'"
    assert "unrecognized arguments" in (problem(".venv/bin/python manage.py retention --no-such-flag") or "")
    assert problem("make no-such-target") == "no Make target no-such-target"
    assert problem("curl -s http://127.0.0.1:8000/no/such/route") == "no route for /no/such/route"
    assert problem("frobnicate --now") == "unknown program 'frobnicate'"
    assert problem("APP_ENV=dev .venv/bin/python manage.py retention --dry-run") is None
    assert problem("scripts/with-owner.sh .venv/bin/python manage.py migrate") is None
