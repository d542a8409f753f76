#!/usr/bin/env python3
"""Fails if a lower layer includes an upper one.

ustack's layers, bottom to top, are the folders under src/ustack/ (docs/architecture.md). A
file in layer L may include headers of L and of layers below L, never above. rt/ and sim/ sit at
the same height and never include each other; both may include app/. Run from anywhere:
    tools/check_layers.py [src-dir]
"""
import pathlib
import re
import sys

# Height of each layer; a file may include only its own layer and strictly lower ones.
HEIGHT = {"base": 0, "buf": 1, "wire": 2, "dev": 3, "link": 4, "filter": 5, "ip": 6,
          "transport": 7, "socket": 8, "stack": 9, "app": 10,
          "rt": 11, "sim": 11,  # peers: neither includes the other
          "cli": 12}
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]ustack/([a-z_]+)/', re.M)


def main():
    src = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else
                       pathlib.Path(__file__).resolve().parent.parent / "src")
    root = src / "ustack"
    errors = []
    checked = 0
    for f in sorted(root.rglob("*")):
        if f.suffix not in (".h", ".cc") or not f.is_file():
            continue
        layer = f.relative_to(root).parts[0]
        if layer not in HEIGHT:
            errors.append(f"{f}: folder '{layer}' is not a known layer (add it to HEIGHT)")
            continue
        checked += 1
        for m in INCLUDE.finditer(f.read_text(errors="replace")):
            dep = m.group(1)
            if dep not in HEIGHT:
                errors.append(f"{f}: includes unknown layer '{dep}'")
            elif dep != layer and HEIGHT[dep] >= HEIGHT[layer]:
                errors.append(f"{f}: layer '{layer}' must not include upper layer '{dep}'")
    for e in errors:
        print(e)
    print(f"check_layers: {checked} files, {len(errors)} violations")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
