"""docs/architecture.md against the code it describes: modules, endpoints, configuration keys, state machines, metrics.

Every fact on the code's side is read from the tree when the test runs (Package.swift, the folders, the Swift
sources), never from a list kept here, so the test follows the code as it is restructured. Pure file reading: no
root, no namespaces, no build. Run as root inside the integration suite, conftest.py still takes the session's lock
for the whole session; `python3 -m pytest --noconftest Tests/IntegrationTests/test_docs_match_code.py` runs this file
without it.

Each comparison is a function from the document's text (and the code's facts) to a list of problems, each saying
what is missing and where; the tests assert the list is empty for the document as committed, and that it is not for
a copy with a documented module, endpoint, state, key or metric taken out.

Configuration keys: every key the loader reads is documented in docs/configuration.md, and every key its examples
write is one the loader knows; Tests/PopConfigTests/ConfigurationDocumentationTests.swift checks both with the
loader itself. This file checks the other document: every key architecture.md names as `table.key` or
`[table] key` is one of those, and every top-level table the loader reads is named in it. A key written bare
(`cache_salt`) cannot be told from the other snake_case words of the text, so it is not checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ARCHITECTURE = REPO / "docs" / "architecture.md"
CONFIGURATION = REPO / "docs" / "configuration.md"
PACKAGE = REPO / "Package.swift"
SOURCES = REPO / "Sources"
GATEWAY = SOURCES / "Gateway"
POPCONFIG = SOURCES / "PopConfig"


def _relative(path: Path) -> str:
    return str(path.relative_to(REPO))


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _without_comments(swift: str) -> str:
    """Swift text with its // comments blanked (a // inside a string literal, as in a URL, is kept)."""
    out: list[str] = []
    for line in swift.splitlines():
        in_string = False
        cut = len(line)
        for index, character in enumerate(line):
            if character == '"' and (index == 0 or line[index - 1] != "\\"):
                in_string = not in_string
            elif not in_string and line.startswith("//", index):
                cut = index
                break
        out.append(line[:cut])
    return "\n".join(out)


def _balanced(text: str, open_index: int) -> str:
    """What lies between the bracket at open_index and its partner (string literals are not looked into)."""
    pairs = {"(": ")", "[": "]", "{": "}"}
    stack = [pairs[text[open_index]]]
    index = open_index + 1
    in_string = False
    while index < len(text):
        character = text[index]
        if in_string:
            if character == "\\":
                index += 1
            elif character == '"':
                in_string = False
        elif character == '"':
            in_string = True
        elif character in pairs:
            stack.append(pairs[character])
        elif character == stack[-1]:
            stack.pop()
            if not stack:
                return text[open_index + 1:index]
        index += 1
    raise ValueError(f"unbalanced {text[open_index]} at offset {open_index}")


def _swift_file_declaring(folder: Path, declaration: str) -> Path:
    """The one Swift file under folder that declares `declaration` (e.g. "enum ProxyRoute"), wherever it lives."""
    pattern = re.compile(rf"^\s*(?:(?:public|package|internal|private|fileprivate)\s+)?{declaration}\b", re.M)
    found = [path for path in sorted(folder.rglob("*.swift")) if pattern.search(path.read_text())]
    assert len(found) == 1, f"expected one file under {_relative(folder)} declaring `{declaration}`, found {found}"
    return found[0]


def _function_body(swift: str, signature: str, where: str) -> str:
    start = swift.find(signature)
    assert start >= 0, f"`{signature}` not found in {where}; update this test to where the code now is"
    return _balanced(swift, swift.index("{", start))


def _enum_cases(swift: str, declaration: str, where: str) -> list[tuple[str, str]]:
    """(name, raw value) of each case of the enum declared as `declaration` (raw value = name when not given)."""
    found = re.search(rf"\b{declaration}\b[^{{]*\{{", swift)
    assert found, f"`{declaration}` not found in {where}"
    body = _balanced(swift, found.end() - 1)
    depth_zero = re.sub(r"\([^()]*\)", "", body)  # associated values are not cases
    cases: list[tuple[str, str]] = []
    for names in re.findall(r"^\s*case\s+([^\n/]+)", depth_zero, re.M):
        for item in names.split(","):
            item = item.strip()
            if not item:
                continue
            named = re.fullmatch(r'(\w+)(?:\s*=\s*"([^"]*)")?', item)
            assert named, f"cannot read case `{item}` of {declaration} in {where}"
            cases.append((named.group(1), named.group(2) or named.group(1)))
    return cases


def _words(camel: str) -> str:
    """readingReceipts -> "reading receipts", as the document's tables name states."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", lambda m: " " + m.group(1).lower(), camel)


# ---- Facts from the code ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    name: str
    kind: str  # target, executableTarget, systemLibrary, testTarget, …
    path: str  # the folder SwiftPM builds it from, relative to the repository


def package_targets() -> dict[str, Target]:
    """Every target Package.swift declares, also those it appends conditionally (the fuzz build's driver)."""
    swift = _without_comments(PACKAGE.read_text())
    targets: dict[str, Target] = {}
    for call in re.finditer(r"\.(target|executableTarget|systemLibrary|testTarget|binaryTarget|plugin|macro)\(",
                            swift):
        arguments = _balanced(swift, call.end() - 1)
        name = re.search(r'\bname:\s*"([^"]+)"', arguments)
        assert name, f"a .{call.group(1)}( in Package.swift without a name: {arguments[:120]!r}"
        path = re.search(r'\bpath:\s*"([^"]+)"', arguments)
        default_root = "Tests" if call.group(1) == "testTarget" else "Sources"
        targets[name.group(1)] = Target(name.group(1), call.group(1),
                                        path.group(1) if path else f"{default_root}/{name.group(1)}")
    return targets


def documented_targets(package: dict[str, Target]) -> set[str]:
    """The targets architecture.md must name: all but the test targets (each named after what it tests)."""
    return {name for name, target in package.items() if target.kind != "testTarget"}


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # a path parameter is written {…}
    listener: str  # "api" (the tunnel address) or "metrics" (the management address)


def gateway_endpoints() -> set[Endpoint]:
    """What the gateway serves, from its routing code: ProxyRoute.resolve, ReceiptAPI.route, MetricsEndpoint."""
    endpoints: set[Endpoint] = set()

    route_file = _swift_file_declaring(GATEWAY, "enum ProxyRoute")
    route = _without_comments(route_file.read_text())
    where = _relative(route_file)
    model_routed = re.search(r"static let modelRoutedPaths\s*:\s*Set<String>\s*=\s*\[", route)
    assert model_routed, f"ProxyRoute.modelRoutedPaths not found in {where}"
    model_routed_paths = re.findall(r'"([^"]+)"', _balanced(route, model_routed.end() - 1))
    receipts_file = _swift_file_declaring(GATEWAY, "struct ReceiptAPI")
    receipt_paths = _receipt_paths(_without_comments(receipts_file.read_text()), _relative(receipts_file))

    resolve = _function_body(route, "static func resolve(", where)
    branches = re.findall(r"\bif\s+(.+?)\s*\{\s*return\s+method\s*==\s*\.(\w+)", resolve, re.S)
    assert branches, f"no `if …{{ return method == .X` branch in ProxyRoute.resolve ({where}); update this test"
    for condition, method in branches:
        if "modelRoutedPaths" in condition:
            paths = model_routed_paths
        elif "ReceiptAPI.route" in condition:
            paths = receipt_paths
        elif exact := re.fullmatch(r'path\s*==\s*"([^"]+)"', condition.strip()):
            paths = [exact.group(1)]
        else:
            raise AssertionError(f"ProxyRoute.resolve ({where}) routes on `{condition}`, which this test cannot "
                                 "read; teach gateway_endpoints() what it serves")
        endpoints |= {Endpoint(method, path, "api") for path in paths}

    metrics_file = _swift_file_declaring(GATEWAY, "enum MetricsEndpoint")
    metrics = _without_comments(metrics_file.read_text())
    served = re.findall(r'method\s*==\s*\.(\w+)\s*&&\s*path\s*==\s*"([^"]+)"', metrics)
    assert served, f"MetricsEndpoint's `method == .X && path == \"…\"` not found in {_relative(metrics_file)}"
    endpoints |= {Endpoint(method, path, "metrics") for method, path in served}
    return endpoints


def _receipt_paths(swift: str, where: str) -> list[str]:
    """The paths ReceiptAPI.route(path:) takes: exact ones, a prefix's named children, and its parameter."""
    body = _function_body(swift, "static func route(path:", where)
    paths = re.findall(r'path\s*==\s*"([^"]+)"', body)
    prefixes = re.findall(r'hasPrefix\("([^"]+)"\)', body)
    assert len(prefixes) <= 1, f"ReceiptAPI.route ({where}) tests several prefixes {prefixes}; update this test"
    for prefix in prefixes:
        paths += [prefix + child for child in re.findall(r'case\s+"([^"]+)"\s*:\s*return\s+\.', body)]
        if re.search(r"default\s*:.*return\b.*\.\w+\(\w+\)", body):
            paths.append(prefix + "{id}")
    assert paths, f"ReceiptAPI.route ({where}) yielded no path; update this test"
    return paths


def state_machine_states(declaration: str) -> list[str]:
    """The cases of `declaration`'s nested `enum State`, in the words the document's tables use."""
    source = _swift_file_declaring(GATEWAY, declaration)
    swift = _without_comments(source.read_text())
    body = _balanced(swift, swift.index("{", swift.index(declaration)))
    return [_words(name) for name, _ in _enum_cases(body, "enum State", _relative(source))]


def config_top_tables() -> set[str]:
    """The tables the loader reads at the top level of popgate.toml."""
    tables: set[str] = set()
    # The loader reads the top level through `top` and opens its sections with `section(_:)`.
    for source in sorted(POPCONFIG.rglob("*.swift")):
        swift = _without_comments(source.read_text())
        tables |= set(re.findall(r'\bsection\("(\w+)"\)', swift))
        tables |= set(re.findall(r'\btop\.(?:subtable|tableArray)\("(\w+)"\)', swift))
    assert tables, "no top-level table (section(\"…\"), top.subtable(\"…\")) found in Sources/PopConfig; update this test"
    return tables


def config_key_names() -> set[str]:
    """Every key name the loader reads through a TableReader accessor (as ConfigurationDocumentationTests finds them)."""
    reader = _swift_file_declaring(POPCONFIG, "struct TableReader")
    accessors = set(re.findall(r"\n\s*mutating func (\w+)\(_ key: String", reader.read_text()))
    assert accessors, f"TableReader's accessors not found in {_relative(reader)}"
    names: set[str] = set()
    for source in sorted(POPCONFIG.rglob("*.swift")):
        for accessor, key in re.findall(r'\.(\w+)\(\s*"([^"\\]+)"', _without_comments(source.read_text())):
            if accessor in accessors:
                names.add(key)
    return names


def documented_config_key_paths() -> set[str]:
    """docs/configuration.md's key paths (`gateway.listen_port`, `backends[].url`), read as
    ConfigurationDocumentationTests.documentedKeyPaths reads them; that test holds them to the loader."""
    paths: set[str] = set()
    for block in re.findall(r"^```toml\n(.*?)^```", CONFIGURATION.read_text(), re.S | re.M):
        table = ""
        for line in block.splitlines():
            code = re.sub(r"\s+#.*$", "", line).strip()  # no documented value holds a '#'
            if code.startswith("[[") and code.endswith("]]"):
                table = code[2:-2]
                paths.add(table)
                table += "[]"
            elif code.startswith("[") and code.endswith("]"):
                table = code[1:-1]
                paths.add(table)
            elif "=" in code:
                key, value = (part.strip() for part in code.split("=", 1))
                path = f"{table}.{key.strip(chr(34))}" if table else key
                paths.add(path)
                if value.startswith("{") and value.endswith("}"):
                    paths |= {f"{path}.{member.split('=')[0].strip()}" for member in value[1:-1].split(",")}
    return paths


@dataclass(frozen=True)
class MetricLabel:
    metric: str
    label: str
    values: frozenset[str]
    enum: str


def gateway_metrics() -> set[str]:
    names: set[str] = set()
    for source in sorted((GATEWAY / "Metrics").rglob("*.swift")):
        names |= set(re.findall(r'\bfamily\(\s*"(popgate_\w+)"', _without_comments(source.read_text())))
    assert names, "no family(\"popgate_…\") found in Sources/Gateway/Metrics; update this test"
    return names


def metric_label_sets() -> list[MetricLabel]:
    """Label values fixed by an enum whose documentation names its metric and label (`metric{label}`)."""
    labels: list[MetricLabel] = []
    for source in sorted((GATEWAY / "Metrics").rglob("*.swift")):
        swift = source.read_text()
        for found in re.finditer(r"`(popgate_\w+)\{(\w+)\}`[^\n]*\n(?:\s*///[^\n]*\n)*\s*(?:public\s+)?enum (\w+)",
                                 swift):
            cases = _enum_cases(swift, f"enum {found.group(3)}", _relative(source))
            labels.append(MetricLabel(found.group(1), found.group(2), frozenset(raw for _, raw in cases),
                                      found.group(3)))
    return labels


# ---- What the document says -------------------------------------------------------------------------------


def _section(doc: str, heading: str) -> tuple[str, int]:
    """The text under a heading (to the next heading of its level or above) and the line it starts on."""
    found = re.search(rf"^(#+) {re.escape(heading)}\s*$", doc, re.M)
    if not found:
        return "", 0
    level = len(found.group(1))
    end = re.compile(rf"^#{{1,{level}}} ", re.M).search(doc, found.end())
    return doc[found.end():end.start() if end else len(doc)], _line_of(doc, found.start())


def _table_rows(text: str, first_line: int) -> list[tuple[int, list[str]]]:
    """(line, cells) of every table row of text, header and separator rows left out."""
    rows = []
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if not line.startswith("|") or re.fullmatch(r"\|[\s|:-]+\|", line):
            continue
        if index + 1 < len(lines) and re.fullmatch(r"\|[\s|:-]+\|", lines[index + 1]):
            continue  # a header row
        rows.append((first_line + index, [cell.strip() for cell in line.strip().strip("|").split("|")]))
    return rows


def documented_modules(doc: str) -> dict[str, int]:
    """The names each entry of the "Modules" block starts with (before the first run of two spaces), by line."""
    text, start = _section(doc, "Modules")
    block = re.search(r"^```\n(.*?)^```", text, re.S | re.M)
    if not block:
        return {}
    first = start + _line_of(text, block.start(1)) - 1
    modules: dict[str, int] = {}
    for offset, line in enumerate(block.group(1).splitlines()):
        if line and not line[0].isspace():
            for name in re.split(r"\s{2,}", line.strip(), maxsplit=1)[0].split():
                modules.setdefault(name, first + offset)
    return modules


def documented_gateway_folders(doc: str) -> set[str]:
    """The folders the Gateway entry of the "Modules" block names after "a folder per concept:"."""
    text, _ = _section(doc, "Modules")
    entry = re.search(r"^Gateway\s{2,}(.*?)(?=^\S)", text, re.S | re.M)
    if not entry or "a folder per concept:" not in entry.group(1):
        return set()
    listed = " ".join(entry.group(1).split()).split("a folder per concept:", 1)[1]
    while "(" in listed:
        listed = re.sub(r"\([^()]*\)", "", listed)
    return {name.strip() for name in listed.split(",") if name.strip()}


def documented_endpoints(doc: str) -> dict[Endpoint, int]:
    """The rows of the "Endpoints" tables: the API's, then (after "management address") the metrics listener's."""
    text, start = _section(doc, "Endpoints")
    split = text.find("management")
    endpoints: dict[Endpoint, int] = {}
    for line, cells in _table_rows(text, start):
        if len(cells) >= 2 and re.fullmatch(r"[A-Z]+", cells[0]):
            offset = sum(len(part) + 1 for part in text.splitlines()[:line - start])
            listener = "metrics" if 0 <= split < offset else "api"
            endpoints[Endpoint(cells[0], cells[1].strip("`"), listener)] = line
    return endpoints


def state_table_rows(doc: str, heading: str) -> tuple[dict[str, int], str]:
    text, start = _section(doc, heading)
    rows = {cells[0]: line for line, cells in _table_rows(text, start) if cells and cells[0]}
    return rows, text


def documented_metric_rows(doc: str) -> list[tuple[int, list[str]]]:
    text, start = _section(doc, "Metrics")
    return [(line, cells) for line, cells in _table_rows(text, start) if "`popgate_" in cells[0]]


FILE_SUFFIXES = {"sqlite", "toml", "nft", "key", "json", "sock", "log", "pem", "md", "service"}


def documented_config_references(doc: str, tables: set[str]) -> dict[str, int]:
    """Key paths the document names as `table.key` (`table.key = value`) or `[table] key`, by line."""
    references: dict[str, int] = {}
    for found in re.finditer(r"`([^`\n]+)`", doc):
        token = found.group(1)
        if bracketed := re.fullmatch(r"\[(\w+)\] (\w+)", token):
            path = f"{bracketed.group(1)}.{bracketed.group(2)}"
        elif dotted := re.fullmatch(r"(\w+)\.(\w+)(?:\s*=.*)?", token):
            if dotted.group(1) not in tables or dotted.group(2) in FILE_SUFFIXES:
                continue
            path = f"{dotted.group(1)}.{dotted.group(2)}"
        else:
            continue
        references.setdefault(path, _line_of(doc, found.start()))
    return references


def documented_tables(doc: str) -> set[str]:
    """Tables the document names: `[name]`, `[[name]]`, `[name] key` or `name.key`."""
    named = set(re.findall(r"`\[\[?(\w+)\]\]?(?: \w+)?`", doc))
    return named | set(re.findall(r"`(\w+)\.\w+", doc))


# ---- The comparisons: each returns its problems, empty when the document matches -------------------------------


def module_problems(doc: str, package: dict[str, Target], source_folders: set[str]) -> list[str]:
    where = _relative(ARCHITECTURE)
    documented = documented_modules(doc)
    if not documented:
        return [f'{where} has no "## Modules" section with a ``` block of modules']
    problems = [f"{where}:{line} names module {name}, which Package.swift does not declare"
                for name, line in sorted(documented.items()) if name not in package]
    for name in sorted(documented_targets(package) - documented.keys()):
        target = package[name]
        problems.append(f'{where}, "Modules": no entry for {name} (.{target.kind} in Package.swift, '
                        f"{target.path}); add a line saying what it is")
    gateway_folders = documented_gateway_folders(doc)
    if "Gateway" in package:
        if not gateway_folders:
            problems.append(f'{where}, "Modules": the Gateway entry does not list "a folder per concept:"')
        for name in sorted(gateway_folders - source_folders):
            problems.append(f'{where}, "Modules": Gateway folder {name} does not exist in Sources/Gateway')
        for name in sorted(source_folders - gateway_folders):
            problems.append(f'{where}, "Modules": the Gateway entry does not name its folder Sources/Gateway/{name}')
    return problems


def endpoint_problems(doc: str, served: set[Endpoint]) -> list[str]:
    where = _relative(ARCHITECTURE)
    documented = documented_endpoints(doc)
    if not documented:
        return [f'{where} has no "## Endpoints" table (| method | path | answered by |)']
    problems = [f"{where}:{line} documents {endpoint.method} {endpoint.path} on the {endpoint.listener} listener, "
                "which the gateway does not serve (Sources/Gateway: ProxyRoute, ReceiptAPI, MetricsEndpoint)"
                for endpoint, line in sorted(documented.items(), key=lambda item: item[1]) if endpoint not in served]
    for endpoint in sorted(served - documented.keys(), key=lambda e: (e.listener, e.path)):
        problems.append(f'{where}, "Endpoints": no row for {endpoint.method} {endpoint.path}, which the gateway serves '
                        f"on its {endpoint.listener} listener; add | {endpoint.method} | `{endpoint.path}` | … |")
    served_paths = {endpoint.path for endpoint in served}
    for found in re.finditer(r"/v1/[\w{}/.-]*\w[}]?(…)?", doc):
        path = found.group(0).rstrip("…")
        known = any(p.startswith(path) for p in served_paths) if found.group(1) else path in served_paths
        if not known:
            problems.append(f"{where}:{_line_of(doc, found.start())} names {found.group(0)}, which the gateway does "
                            "not serve")
    return problems


def state_problems(doc: str, heading: str, machine: str, states: list[str]) -> list[str]:
    where = _relative(ARCHITECTURE)
    rows, text = state_table_rows(doc, heading)
    if not rows:
        return [f'{where} has no "{heading}" section with a state table ({machine})']
    problems = [f'{where}:{line}, "{heading}": the row "{row}" is not a state of {machine}.State '
                f"(its states: {', '.join(states)})" for row, line in rows.items() if row not in states]
    for state in states:
        if state not in rows and f"the {state} state" not in text:
            problems.append(f'{where}, "{heading}": {machine}.State has "{state}", which the table has no row for '
                            f"({len(states)} states in the code, {len(rows)} rows)")
    return problems


def config_problems(doc: str, top_tables: set[str], documented_paths: set[str], key_names: set[str]) -> list[str]:
    where = _relative(ARCHITECTURE)
    problems = []
    for path, line in sorted(documented_config_references(doc, top_tables).items(), key=lambda item: item[1]):
        leaf = path.rsplit(".", 1)[-1]
        if path not in documented_paths and path.replace(".", "[].", 1) not in documented_paths:
            problems.append(f"{where}:{line} names the configuration key {path}, which docs/configuration.md does "
                            "not document")
        elif leaf not in key_names:
            problems.append(f"{where}:{line} names the configuration key {path}, which Sources/PopConfig never reads")
    for table in sorted(top_tables - documented_tables(doc)):
        problems.append(f"{where} never names the configuration table [{table}], which the loader reads "
                        "(Sources/PopConfig); say where it is used")
    return problems


def metric_problems(doc: str, metrics: set[str], labels: list[MetricLabel]) -> list[str]:
    where = _relative(ARCHITECTURE)
    rows = documented_metric_rows(doc)
    if not rows:
        return [f'{where} has no "## Metrics" table of popgate_ metrics']
    documented: dict[str, tuple[int, list[str]]] = {}
    for line, cells in rows:
        for name in re.findall(r"`(popgate_\w+)`", cells[0]):
            documented[name] = (line, cells)
    problems = [f"{where}:{line} documents the metric {name}, which popgated does not publish"
                for name, (line, _) in sorted(documented.items()) if name not in metrics]
    problems += [f'{where}, "Metrics": no row for {name}, which popgated publishes (Sources/Gateway/Metrics)'
                 for name in sorted(metrics - documented.keys())]
    for label in labels:
        if label.metric not in documented:
            continue
        line, cells = documented[label.metric]
        listed = re.search(rf"\b{label.label} \(([^)]*)\)", " | ".join(cells[1:]))
        values = set(re.findall(r"`([^`]+)`", listed.group(1))) if listed else set()
        for value in sorted(label.values - values):
            problems.append(f"{where}:{line}: {label.metric}'s {label.label} values leave out `{value}` "
                            f"({label.enum} in Sources/Gateway/Metrics)")
        for value in sorted(values - label.values):
            problems.append(f"{where}:{line}: {label.metric}'s {label.label} value `{value}` is not a case of "
                            f"{label.enum}")
    return problems


# ---- The tests ------------------------------------------------------------------------------------------------


def _doc() -> str:
    return ARCHITECTURE.read_text()


def _gateway_folders() -> set[str]:
    return {path.name for path in GATEWAY.iterdir() if path.is_dir()}


def _report(problems: list[str]) -> str:
    return "\n".join(["docs/architecture.md does not match the code:", *problems])


def test_the_package_is_read_whole() -> None:
    """Every folder of Sources/ is some target's (else the parser missed a declaration), and what the parser found
    includes each kind of target the package has."""
    package = package_targets()
    built_from = {target.path.rstrip("/") for target in package.values()}
    unclaimed = sorted(f"Sources/{path.name}" for path in SOURCES.iterdir()
                       if path.is_dir() and f"Sources/{path.name}" not in built_from)
    assert not unclaimed, f"no target of Package.swift (as read here) builds {unclaimed}; is the parser out of date?"
    kinds = {target.kind for target in package.values()}
    assert {"systemLibrary", "target", "executableTarget", "testTarget"} <= kinds, kinds


def test_every_module_in_the_doc_is_a_target_and_every_target_is_in_the_doc() -> None:
    problems = module_problems(_doc(), package_targets(), _gateway_folders())
    assert not problems, _report(problems)


def test_every_endpoint_in_the_doc_is_served_and_every_served_endpoint_is_in_the_doc() -> None:
    served = gateway_endpoints()
    assert {endpoint.listener for endpoint in served} == {"api", "metrics"}, served
    assert {"GET", "POST"} <= {endpoint.method for endpoint in served}, served
    problems = endpoint_problems(_doc(), served)
    assert not problems, _report(problems)


def test_the_state_tables_have_a_row_per_state_of_their_machine() -> None:
    connection = state_machine_states("struct HTTPConnectionStateMachine")
    exchange = state_machine_states("struct ProxyExchangeStateMachine")
    assert connection and exchange
    problems = state_problems(_doc(), "The connection as a state machine", "HTTPConnectionStateMachine", connection)
    problems += state_problems(_doc(), "The proxied exchange as a state machine", "ProxyExchangeStateMachine", exchange)
    assert not problems, _report(problems)


def test_every_configuration_key_the_doc_names_is_read_and_every_table_is_named() -> None:
    tables = config_top_tables()
    documented_paths = documented_config_key_paths()
    key_names = config_key_names()
    # What the configuration document and the loader agree on must be found here, or the check below checks nothing.
    assert tables <= documented_paths, f"tables the loader reads but docs/configuration.md lacks: {tables - documented_paths}"
    assert len(key_names) >= 40, f"only {len(key_names)} keys found in Sources/PopConfig; is the pattern out of date?"
    references = documented_config_references(_doc(), tables)
    assert len(references) >= 10, f"only {sorted(references)} found in docs/architecture.md"
    problems = config_problems(_doc(), tables, documented_paths, key_names)
    assert not problems, _report(problems)


def test_every_metric_and_fixed_label_value_is_documented_and_published() -> None:
    labels = metric_label_sets()
    assert labels, "no `popgate_…{label}` enum found in Sources/Gateway/Metrics; is the pattern out of date?"
    problems = metric_problems(_doc(), gateway_metrics(), labels)
    assert not problems, _report(problems)


def house_rule_problems(name: str, text: str) -> list[str]:
    """The documents speak of the repository itself: no issue numbers of its own (an upstream project's issue, written
    owner/repo#N, is a citation) and no paths that climb out of it."""
    problems = []
    for found in re.finditer(r"\b(?:issues?|tickets?|PR)\s*#?\d+|(?<![\w/.-])#\d+\b|\.\./", text, re.I):
        problems.append(f"{name}:{_line_of(text, found.start())}: {found.group(0)!r}; say what it is in words")
    return problems


def test_docs_name_no_issue_numbers_and_no_paths_outside_the_repository() -> None:
    documents = sorted((REPO / "docs").glob("*.md")) + [REPO / "README.md"]
    assert ARCHITECTURE in documents
    problems = [problem for document in documents
                for problem in house_rule_problems(_relative(document), document.read_text())]
    assert not problems, "\n".join(problems)
    for planted in ("as issue 6 asks", "see #12", "in ../shared/DESIGN.md", "Issue #3"):
        assert house_rule_problems("x.md", f"text {planted} text"), planted
    assert not house_rule_problems("x.md", "fixed upstream (marzer/tomlplusplus#301); a `#!` line; 0x1F")


def _without_line(doc: str, contains: str) -> str:
    lines = doc.splitlines(keepends=True)
    matching = [line for line in lines if contains in line]
    assert len(matching) == 1, f"expected one line with {contains!r} in the document, found {len(matching)}"
    return "".join(line for line in lines if contains not in line)


def test_a_doc_with_something_taken_out_fails_each_check() -> None:
    """The checks above, run on copies of the document with one documented thing removed or renamed, name it."""
    doc = _doc()
    package = package_targets()
    folders = _gateway_folders()
    served = gateway_endpoints()

    def has(problems: list[str], *words: str) -> bool:
        return any(all(word in problem for word in words) for problem in problems)

    # A module line removed: the target is reported as missing from the doc; one renamed: reported as unknown.
    without_receipts = _without_line(doc, "\nReceipts                ".lstrip("\n"))
    assert has(module_problems(without_receipts, package, folders), "no entry for Receipts")
    renamed = doc.replace("\nSystemdNotify ", "\nSystemdNotifier ", 1)
    assert renamed != doc
    problems = module_problems(renamed, package, folders)
    assert has(problems, "SystemdNotifier", "does not declare") and has(problems, "no entry for SystemdNotify")
    # A Gateway folder left out of its entry.
    assert has(module_problems(doc.replace("ReceiptsAPI, ", "", 1), package, folders),
               "does not name its folder Sources/Gateway/ReceiptsAPI")

    # An endpoint's row removed, and every other mention of it too.
    without_responses = _without_line(doc, "| POST | `/v1/responses` |").replace("/v1/responses", "/v1/embeddings")
    assert has(endpoint_problems(without_responses, served), "no row for POST /v1/responses")
    assert has(endpoint_problems(_without_line(doc, "| GET | `/metrics` |"), served), "no row for GET /metrics")
    # A path the gateway does not serve, in a row or in the text.
    moved = doc.replace("| GET | `/v1/models` |", "| GET | `/v1/model` |", 1)
    assert has(endpoint_problems(moved, served), "/v1/model ", "does not serve")
    assert has(endpoint_problems(doc + "\nIt also proxies `/v1/audio/speech`.\n", served), "/v1/audio/speech")

    # A state's row removed from the connection table.
    states = state_machine_states("struct HTTPConnectionStateMachine")
    without_answering = _without_line(doc, "| answering | ")
    assert has(state_problems(without_answering, "The connection as a state machine", "HTTPConnectionStateMachine",
                              states), '"answering"', "no row")

    # A configuration key renamed in the text, and a table no longer named anywhere.
    tables = config_top_tables()
    paths = documented_config_key_paths()
    keys = config_key_names()
    renamed_key = doc.replace("`gateway.send_timeout_s`", "`gateway.write_timeout_s`", 1)
    assert renamed_key != doc
    assert has(config_problems(renamed_key, tables, paths, keys), "gateway.write_timeout_s")
    assert has(config_problems(doc, tables, paths - {"gateway.send_timeout_s"}, keys), "gateway.send_timeout_s")
    assert has(config_problems(doc, tables, paths, keys - {"send_timeout_s"}), "never reads")
    without_tls = re.sub(r"`\[tls\]`|`tls\.\w+`", "TLS", doc)
    assert has(config_problems(without_tls, tables, paths, keys), "[tls]")

    # A metric's row removed, and a fixed label value left out.
    metrics = gateway_metrics()
    labels = metric_label_sets()
    without_tokens = _without_line(doc, "| `popgate_tokens_total` |")
    assert has(metric_problems(without_tokens, metrics, labels), "no row for popgate_tokens_total")
    without_limit_reason = doc.replace(", `connection_limit`)", ")", 1)
    assert without_limit_reason != doc
    assert has(metric_problems(without_limit_reason, metrics, labels), "leave out `connection_limit`")


if __name__ == "__main__":
    import sys

    import pytest

    sys.exit(pytest.main(["--noconftest", "-v", __file__]))
