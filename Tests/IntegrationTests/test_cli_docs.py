"""popctl's shell completions, man page and exit statuses, as docs/popctl.md documents them (`make cli-docs`).

The completion script is loaded into a real bash and asked to complete, the way `complete -F` asks; the man page
comes from swift-argument-parser's GenerateManual plugin and is rendered with groff. Needs the built popctl, swift, bash and groff (and `wg` for the exit-status test's throwaway PoP); no
root and no network namespace.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from popgate_harness import BIN, REPO, SWIFT_PATH, binary_problem, describe, registry_config, require, run

# Every popctl subcommand the man page must document, under its parent.
COMMANDS = {
    ("tenant",), ("tenant", "add"), ("tenant", "list"), ("tenant", "remove"),
    ("peer",), ("peer", "add"), ("peer", "import"), ("peer", "list"), ("peer", "rotate"), ("peer", "revoke"),
    ("key",), ("key", "create"), ("key", "list"), ("key", "revoke"),
    ("status",),
}
# What Popctl's discussion says, so `popctl --help` and the man page both carry it.
EXIT_STATUS_TEXT = ("Exit status: 0 success;", "1 the operation was refused or failed", "2 usage error")
CONFIG_TEXT = "from --config PATH, else from $POPGATE_CONFIG, else from /etc/popgate/popgate.toml"


def _popctl() -> Path:
    problem = binary_problem("popctl")
    require(problem is None, problem or "")
    return BIN / "popctl"


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
    offered = _bash_complete(script, "peer", "")
    assert {"add", "import", "list", "rotate", "revoke"} <= set(offered), offered
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
    missing = COMMANDS - _documented_commands(mdoc)
    assert not missing, f"not in the man page: {sorted(missing)}"
    # Wide lines: no wrapping or hyphenation inside the sentences looked for.
    rendered = run(["groff", "-mandoc", "-Tutf8", "-P-cbou", "-ww", "-rLL=2000n", str(tmp_path / "popctl.1")],
                   timeout=60)
    assert rendered.returncode == 0 and not rendered.stderr.strip(), describe(rendered)
    text = " ".join(rendered.stdout.split())
    for line in ("NAME", "SYNOPSIS", "DESCRIPTION", "EXIT STATUS"):
        assert f"\n{line}\n" in rendered.stdout, f"no {line} section"
    for name in {path[-1] for path in COMMANDS}:
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
