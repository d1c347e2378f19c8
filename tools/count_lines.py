"""Lines of code of classes, docstrings, comments and blank lines aside.

    python tools/count_lines.py nmt_keras/layers/encoder.py:Encoder ...

Prints one line per class: its code lines and the files it imports from the package.
"""

import ast
import io
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


def main(argv):
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
