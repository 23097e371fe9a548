#!/usr/bin/env python3
"""Writes the method reference of docs/api.md from the comments in proto/.

Every RPC comment in the contracts ends with an "Errors:" sentence; this script collects the
services, their methods, what each does and its error codes into the section between the
`methods:start` and `methods:end` markers. With --check it only reports whether the section
is current, so CI fails when a contract changes without the docs.
"""

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "api.md"
START, END = "<!-- methods:start -->", "<!-- methods:end -->"


def services():
    for path in sorted((ROOT / "proto" / "leadflow").glob("*/v1/*.proto")):
        package = None
        comment, service = [], None
        for raw in path.read_text(encoding="utf-8").splitlines():
            line = raw.strip()
            if line.startswith("package "):
                package = line.split()[1].rstrip(";")
            if line.startswith("//"):
                comment.append(line[2:].strip())
                continue
            match = re.match(r"service (\w+) \{", line)
            if match:
                service = (f"{package}.{match.group(1)}", " ".join(comment), [])
                yield service
            match = re.match(r"rpc (\w+)\((stream )?(\w+)\) returns \((stream )?(\w+)\)", line)
            if match and service:
                text = " ".join(comment)
                summary, _, errors = text.partition("Errors:")
                service[2].append((match.group(1), summary.strip(), errors.strip(), bool(match.group(4))))
            comment = []


def render():
    lines = [START, ""]
    for name, description, methods in list(services()):
        lines.append(f"### `{name}`")
        lines.append("")
        lines.append(description.split(". ")[0].rstrip(".") + ".")
        lines.append("")
        lines.append("| method | what it does | errors |")
        lines.append("|---|---|---|")
        for method, summary, errors, streaming in methods:
            kind = " (server stream)" if streaming else ""
            summary = summary.replace("|", "\\|")
            errors = (errors or "only transport and UNAVAILABLE errors").replace("|", "\\|")
            lines.append(f"| `{method}`{kind} | {summary} | {errors} |")
        lines.append("")
    lines.append(END)
    return "\n".join(lines)


def main():
    text = DOC.read_text(encoding="utf-8")
    if START not in text or END not in text:
        sys.exit(f"{DOC} has no {START} … {END} section")
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    updated = before + render() + after
    if "--check" in sys.argv:
        if updated != text:
            sys.exit("docs/api.md: the method reference is out of date; run python3 .ci/api-methods.py")
        print("docs/api.md: method reference is current")
        return
    DOC.write_text(updated, encoding="utf-8")
    print("docs/api.md: method reference written")


if __name__ == "__main__":
    main()
