"""popctl's commands, shell completions, man page and exit statuses, as docs/popctl.md documents them (`make cli-docs`).

The commands are read from the built popctl itself (`--experimental-dump-help`, swift-argument-parser's JSON of every
command), never listed here: docs/popctl.md's table, the man page and the completions are each held to that.

The completion script is loaded into a real bash and asked to complete, the way `complete -F` asks; the man page
comes from swift-argument-parser's GenerateManual plugin and is rendered with groff. Needs the built popctl, swift, bash and groff (and `wg` for the exit-status test's throwaway PoP); no
root and no network namespace.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from functools import cache
from pathlib import Path

from harness.binaries import BIN, REPO, SWIFT_PATH, binary_problem
from harness.postgres import registry_config
from harness.processes import describe, require, run

POPCTL_DOC = REPO / "docs" / "popctl.md"
# What Popctl's discussion says, so `popctl --help` and the man page both carry it.
EXIT_STATUS_TEXT = ("Exit status: 0 success;", "1 the operation was refused or failed", "2 usage error")
CONFIG_TEXT = "from --config PATH, else from $POPGATE_CONFIG, else from /etc/popgate/popgate.toml"


def _popctl() -> Path:
    problem = binary_problem("popctl")
    require(problem is None, problem or "")
    return BIN / "popctl"


@cache
def _commands() -> dict[tuple[str, ...], str]:
    """Every popctl command below the root, by its path (("peer", "add")), with its abstract: what the built binary
    says of itself. ArgumentParser's own `help` command and hidden commands are left out."""
    result = run([str(_popctl()), "--experimental-dump-help"], timeout=30)
    assert result.returncode == 0, f"popctl cannot list its commands:\n{describe(result)}"
    dump = json.loads(result.stdout)
    commands: dict[tuple[str, ...], str] = {}

    def walk(command: dict, path: tuple[str, ...]) -> None:
        for sub in command.get("subcommands") or []:
            sub_path = (*path, sub["commandName"])
            # `help` is added by ArgumentParser to every root command, not declared by popctl (docs/popctl.md says
            # how to use it in its opening paragraph).
            if sub_path == ("help",) or not sub.get("shouldDisplay", True):
                continue
            commands[sub_path] = sub.get("abstract", "")
            walk(sub, sub_path)

    walk(dump["command"], ())
    # A wrong reading of the dump would make every check below pass on nothing.
    assert dump["command"]["commandName"] == "popctl" and len(commands) >= 2, dump["command"].get("commandName")
    assert any(len(path) == 2 for path in commands), f"no nested command found in the dump: {sorted(commands)}"
    return commands


def _documented_command_rows(markdown: str) -> dict[tuple[str, ...], tuple[int, str]]:
    """docs/popctl.md's command table: each row's command path, with its line and its description (backticks
    dropped, as --help prints none)."""
    rows: dict[tuple[str, ...], tuple[int, str]] = {}
    for number, line in enumerate(markdown.splitlines(), start=1):
        row = re.fullmatch(r"\|\s*`popctl ([a-z][a-z -]*)`\s*\|(.*)\|\s*", line)
        if row:
            rows[tuple(row.group(1).split())] = (number, row.group(2).strip().replace("`", ""))
    return rows


def _command_table_problems(markdown: str, commands: dict[tuple[str, ...], str]) -> list[str]:
    """What docs/popctl.md's command table gets wrong against popctl's commands, each saying where."""
    where = POPCTL_DOC.relative_to(REPO)
    rows = _documented_command_rows(markdown)
    if not rows:
        return [f"{where} has no command table (| `popctl COMMAND` | what it does |)"]
    problems = []
    for path in sorted(commands.keys() - rows.keys()):
        problems.append(f"{where}: no row for `popctl {' '.join(path)}`, which popctl has; add "
                        f"| `popctl {' '.join(path)}` | {commands[path]} |")
    for path, (line, description) in sorted(rows.items(), key=lambda item: item[1][0]):
        if path not in commands:
            problems.append(f"{where}:{line}: `popctl {' '.join(path)}` is not a popctl command")
        elif description != commands[path]:
            problems.append(f"{where}:{line}: `popctl {' '.join(path)}` says {description!r}; popctl --help says "
                            f"{commands[path]!r}")
    return problems


def test_popctl_md_lists_every_command_and_only_popctls_commands() -> None:
    commands = _commands()
    markdown = POPCTL_DOC.read_text()
    problems = _command_table_problems(markdown, commands)
    assert not problems, "\n".join(["docs/popctl.md does not match popctl's commands:", *problems])
    assert "popctl help" in markdown, "docs/popctl.md does not say how to use `popctl help`"

    # The check catches a command taken out of the table, one that popctl does not have, and a changed line.
    nested = next(path for path in sorted(commands) if len(path) == 2)
    row = f"| `popctl {' '.join(nested)}` |"
    without = "\n".join(line for line in markdown.splitlines() if not line.startswith(row))
    assert any(f"no row for `popctl {' '.join(nested)}`" in problem
               for problem in _command_table_problems(without, commands))
    extra = markdown + "\n| `popctl peer frobnicate` | Frobnicate a peer. |\n"
    assert any("`popctl peer frobnicate` is not a popctl command" in problem
               for problem in _command_table_problems(extra, commands))
    changed = markdown.replace(f"{row} {commands[nested]} |", f"{row} Something else. |")
    assert changed != markdown
    assert any("popctl --help says" in problem for problem in _command_table_problems(changed, commands))


def _completion_script(tmp_path: Path, shell: str) -> Path:
    result = run([str(_popctl()), "--generate-completion-script", shell], timeout=30)
    assert result.returncode == 0 and result.stdout.strip(), describe(result)
    path = tmp_path / f"popctl.{shell}"
    path.write_text(result.stdout)
    return path


def _bash_complete(script: Path, *words: str) -> list[str]:
    """What bash offers for the last of `words` ("" when a new word is started), asking the function that the
    script registers for popctl with `complete -F` as bash would: COMP_* set, (command, word, previous word)."""
    driver = r"""
source "$0"
function=$(complete -p popctl | sed -n 's/.* -F \([^ ]*\) .*/\1/p')
[ -n "$function" ] || { echo "the script registers no completion function for popctl" >&2; exit 3; }
COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
"$function" popctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
printf '%s\n' "${COMPREPLY[@]}"
"""
    result = run(["bash", "-c", driver, str(script), "popctl", *words], timeout=30)
    assert result.returncode == 0, describe(result)
    return result.stdout.split()


def test_bash_completion_offers_subcommands_and_options(tmp_path: Path) -> None:
    require(shutil.which("bash"), "bash is not installed")
    script = _completion_script(tmp_path, "bash")
    assert _bash_complete(script, "pe") == ["peer"]
    for group in sorted({path[:-1] for path in _commands() if len(path) > 1}):
        subcommands = {path[-1] for path in _commands() if path[:-1] == group}
        offered = _bash_complete(script, *group, "")
        assert subcommands <= set(offered), f"`popctl {' '.join(group)} <Tab>` offers {offered}, not {subcommands}"
    assert "--output-dir" in _bash_complete(script, "peer", "import", "--"), "peer import's options"


def test_zsh_and_fish_completion_scripts_are_generated(tmp_path: Path) -> None:
    assert _completion_script(tmp_path, "zsh").read_text().startswith("#compdef popctl")
    fish = _completion_script(tmp_path, "fish").read_text()
    assert "complete -c 'popctl'" in fish and '"popctl peer import" output-dir' in fish


def _manual(tmp_path: Path) -> str:
    """popctl's mdoc page from swift-argument-parser's GenerateManual plugin, as `make cli-docs` runs it: it builds the
    package (already built here) and writes a page per executable, saying where."""
    env = {"PATH": f"{SWIFT_PATH}:{os.environ.get('PATH', '')}"}
    swift = shutil.which("swift", path=env["PATH"])
    require(swift, f"swift is not installed (looked in {SWIFT_PATH} and PATH)")
    result = run([swift, "package", "generate-manual", "--configuration", "debug"], timeout=900, env=env, cwd=REPO)
    assert result.returncode == 0, describe(result)
    found = re.search(r"^Generated manual in '(?:file://)?(/[^']*/popctl)/?'$", result.stdout, re.M)
    assert found, f"the plugin did not say where popctl's page went:\n{describe(result)}"
    page = (Path(found.group(1)) / "popctl.1").read_text()
    (tmp_path / "popctl.1").write_text(page)
    return page


def _documented_commands(mdoc: str) -> set[tuple[str, ...]]:
    """The subcommand paths in generate-manual's page: each is an `.It Em NAME` item, nested in its parent's list."""
    paths: set[tuple[str, ...]] = set()
    open_items: list[str] = []  # the item open at each list level; "" for an option or argument
    for line in mdoc.splitlines():
        words = line.split()
        if line.startswith(".Bl"):
            open_items.append("")
        elif line.startswith(".El") and open_items:
            open_items.pop()
        elif line.startswith(".It") and open_items:
            open_items[-1] = words[2] if len(words) == 3 and words[1] == "Em" else ""
            if open_items[-1]:
                paths.add(tuple(name for name in open_items if name))
    return paths


def test_man_page_renders_and_documents_every_subcommand_and_the_exit_statuses(tmp_path: Path) -> None:
    require(shutil.which("groff"), "groff is not installed (Debian: groff-base; `make deps`)")
    mdoc = _manual(tmp_path)
    assert mdoc.splitlines()[2] == ".Dt POPCTL 1", mdoc[:300]
    missing = _commands().keys() - _documented_commands(mdoc)
    assert not missing, f"not in the man page: {sorted(missing)}"
    # Wide lines: no wrapping or hyphenation inside the sentences looked for.
    rendered = run(["groff", "-mandoc", "-Tutf8", "-P-cbou", "-ww", "-rLL=2000n", str(tmp_path / "popctl.1")],
                   timeout=60)
    assert rendered.returncode == 0 and not rendered.stderr.strip(), describe(rendered)
    text = " ".join(rendered.stdout.split())
    for line in ("NAME", "SYNOPSIS", "DESCRIPTION", "EXIT STATUS"):
        assert f"\n{line}\n" in rendered.stdout, f"no {line} section"
    for name in {path[-1] for path in _commands()}:
        assert re.search(rf"^ +{name}( {{2,}}|$)", rendered.stdout, re.M), f"no entry for {name}"
    for phrase in (*EXIT_STATUS_TEXT, CONFIG_TEXT):
        assert phrase in text, f"{phrase!r} not in the rendered page"


def test_help_and_exit_statuses_are_as_documented(tmp_path: Path) -> None:
    popctl = str(_popctl())
    require(shutil.which("wg"), "wg (wireguard-tools) is not installed: it makes the throwaway PoP's key")
    config = str(registry_config(tmp_path, f'path = "{tmp_path}/registry.sqlite"'))
    missing = str(tmp_path / "missing.toml")

    def popctl_run(*args: str, config_env: str = missing):
        return run([popctl, *args], timeout=30, env={"POPGATE_CONFIG": config_env})

    help_text = " ".join(popctl_run("--help").stdout.split())
    for phrase in (*EXIT_STATUS_TEXT, CONFIG_TEXT):
        assert phrase in help_text, f"{phrase!r} not in `popctl --help`"

    # --config wins over $POPGATE_CONFIG, which is used without it.
    ok = popctl_run("tenant", "add", "acme", "--config", config)
    assert ok.returncode == 0, describe(ok)
    listed = popctl_run("tenant", "list", config_env=config)
    assert listed.returncode == 0 and "acme" in listed.stdout, describe(listed)
    # 1: refused or failed, saying why.
    for failed, why in (
        (popctl_run("peer", "add", "--tenant", "nosuch", "--config", config), '"nosuch"'),
        (popctl_run("tenant", "list"), missing),
    ):
        assert failed.returncode == 1 and why in failed.stderr, describe(failed)
    # 2: usage errors, found before any configuration is read.
    for usage in (
        popctl_run("tenant", "add", "--config", config),
        popctl_run("peer", "add", "--config", config),
        popctl_run("tenant", "add", "x", "--no-such-option"),
        popctl_run("no-such-subcommand"),
    ):
        assert usage.returncode == 2 and "Usage:" in usage.stderr, describe(usage)
