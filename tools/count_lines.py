"""Lines of code, docstrings, comments and blank lines aside.

    python tools/count_lines.py nmt_keras/layers/encoder.py:Encoder ...   # classes
    python tools/count_lines.py nmt_keras [--exclude nmt_keras/data/x.py]  # files, and the total

For a class, prints its code lines and the files it imports from the package; for a
file or a directory, one line per Python file and the total.
"""

import argparse
import ast
import io
import pathlib
import sys
import tokenize


def code_lines(source, node):
    """Line numbers of `node` that hold code (not docstrings, comments or blanks)."""
    docstrings = set()
    for child in ast.walk(node):
        body = getattr(child, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(getattr(body[0], "value", None), ast.Constant) \
                and isinstance(body[0].value.value, str):
            docstrings.update(range(body[0].lineno, body[0].end_lineno + 1))
    lines = set()
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    for token in tokens:
        if token.type in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                          tokenize.DEDENT, tokenize.ENDMARKER):
            continue
        for line in range(token.start[0], token.end[0] + 1):
            if node.lineno <= line <= node.end_lineno and line not in docstrings:
                lines.add(line)
    return lines


def file_lines(path):
    """Code lines of a whole Python file."""
    source = pathlib.Path(path).read_text(encoding="utf-8")
    whole = ast.parse(source)
    whole.lineno, whole.end_lineno = 1, max(1, len(source.splitlines()))
    return len(code_lines(source, whole))


def count_files(paths, exclude=()):
    """`(code lines, path)` for every Python file under `paths`, sorted."""
    excluded = {pathlib.Path(e).resolve() for e in exclude}
    files = [
        found for path in map(pathlib.Path, paths)
        for found in (sorted(path.rglob("*.py")) if path.is_dir() else [path])
        if found.resolve() not in excluded
    ]
    return sorted((file_lines(path), str(path)) for path in files)


def main(argv):
    if not any(":" in spec for spec in argv):
        parser = argparse.ArgumentParser(prog="python tools/count_lines.py")
        parser.add_argument("paths", nargs="+")
        parser.add_argument("--exclude", action="append", default=[])
        args = parser.parse_args(argv)
        rows = count_files(args.paths, args.exclude)
        for lines, path in rows:
            print(f"{lines:6d}  {path}")
        print(f"{sum(lines for lines, _ in rows):6d}  total, {len(rows)} files")
        return
    for spec in argv:
        path, name = spec.split(":")
        source = open(path, encoding="utf-8").read()
        tree = ast.parse(source)
        node = next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == name)
        imports = sorted(
            n.module for n in ast.walk(tree)
            if isinstance(n, ast.ImportFrom) and n.module and n.module.startswith("nmt_keras")
        )
        print(f"{name:20s} {len(code_lines(source, node)):4d} code lines  {path}  imports {imports}")


if __name__ == "__main__":
    main(sys.argv[1:])
