#!/usr/bin/env python3
"""Code-size and import-structure figures for crates/*/src, for before/after comparisons.

What it measures, over the non-test Rust code of every crate (`crates/*/src/**/*.rs`;
items under `#[cfg(test)]` — the `mod tests { ... }` blocks and test-only helpers — are
left out, and so are files declared `#[cfg(test)] mod x;` and files under a `tests/`
folder):

  * functions: every `fn` with a body, from the line of `fn` to its closing brace
    (doc comments and attributes above it are not counted); methods are named
    `Type::method` after their `impl`/`trait` block; the longest and the top 10;
  * axum handlers: the `pub async fn` of `crates/detective-server/src/routes/**.rs`,
    measured the same way; the longest and the top 10;
  * files: lines of the file without its test items (the full count in brackets);
    the largest and the top 10;
  * file-level import circles: a graph with one node per file, and an edge A -> B when
    A refers to something that lives in file B of the same crate. References are
    `use` declarations (with `{...}` groups, `self`, renames and globs) and paths in
    code (`crate::routes::models::artifact_files(...)`, `super::x`, `self::x`, and a
    path starting with a child module or with a module name brought in by `use`).
    Paths are mapped to files by the module tree (`foo.rs` or `foo/mod.rs`, nested
    folders, inline `mod x { ... }` blocks) and resolved through re-exports: when a
    path ends in a module that does not define the name but re-exports it (`pub use
    x::Y` in lib.rs or a mod.rs, also `pub use x::*` when x defines the name), the edge
    goes to the file that defines the item, so `crate::Y` in x does not make lib.rs and
    x a circle. A `pub use x::Y` is itself an edge to x. Declaring a child (`mod x;`)
    is not an edge; a child referring to its parent's own items is. Importing a module
    by name (`use crate::routes;`) is not an edge by itself; the paths through it are.
    Circles are the strongly connected components (Tarjan) with two or more files;
    each is printed with its files.

The parsing is lexical (comments, strings and char literals are blanked first, then
braces are matched), not a Rust parser: macro-generated items and `#[path]` modules are
not seen, and a `cfg`-disabled item counts like any other.

    python3 scripts/code-metrics.py                  # the working tree
    python3 scripts/code-metrics.py --rev 63d0fb8    # the files of a commit (git show)
    python3 scripts/code-metrics.py --json           # the same figures as JSON

Standard library only.
"""

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOP = 10
IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


# ---------------------------------------------------------------------------------------
# reading the files


def list_files(rev):
    """Paths (relative to the repository root) of crates/*/src/**/*.rs and their text."""
    if rev is None:
        paths = sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("crates/*/src/**/*.rs"))
        return {p: (ROOT / p).read_text(encoding="utf-8", errors="replace") for p in paths}
    names = subprocess.run(
        ["git", "-C", str(ROOT), "ls-tree", "-r", "--name-only", rev, "crates/"],
        check=True, capture_output=True, text=True,
    ).stdout.split("\n")
    paths = sorted(n for n in names if re.fullmatch(r"crates/[^/]+/src/.+\.rs", n))
    # one `git cat-file --batch` for all the files instead of one `git show` each
    request = "".join(f"{rev}:{p}\n" for p in paths).encode()
    out = subprocess.run(
        ["git", "-C", str(ROOT), "cat-file", "--batch"], input=request, check=True, capture_output=True
    ).stdout
    texts, i = {}, 0
    for p in paths:
        header_end = out.index(b"\n", i)
        size = int(out[i:header_end].split()[2])
        texts[p] = out[header_end + 1 : header_end + 1 + size].decode("utf-8", errors="replace")
        i = header_end + 1 + size + 1
    return texts


def blank_comments_and_literals(src):
    """The source with comments and the insides of string/char literals replaced by
    spaces; newlines are kept so that offsets and line numbers stay the same."""
    out = list(src)
    n, i = len(src), 0

    def blank(a, b):
        for k in range(a, b):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        c = src[i]
        if c == "/" and src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            blank(i, j)
            i = j
        elif c == "/" and src.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if src.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif src.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            blank(i, j)
            i = j
        elif c in "rbc" and (i == 0 or not (src[i - 1].isalnum() or src[i - 1] == "_")):
            m = re.match(r'(?:br|cr|r)(#*)"', src[i:i + 260])
            if m:  # raw string
                close = '"' + m.group(1)
                j = src.find(close, i + m.end())
                j = n if j < 0 else j + len(close)
                blank(i + m.end(), j - len(close))
                i = j
            elif src.startswith(('b"', 'c"'), i):
                i += 1
            else:
                i += 1
        elif c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            blank(i + 1, j)
            i = j + 1
        elif c == "'":
            if src.startswith("'\\", i):  # escaped char literal
                j = src.find("'", i + 2 + (src[i + 2] == "'"))
                blank(i + 1, j)
                i = j + 1
            elif i + 2 < n and src[i + 2] == "'":  # 'x'
                blank(i + 1, i + 2)
                i += 3
            else:  # a lifetime or label
                i += 1
        else:
            i += 1
    return "".join(out)


def match_brace(code, open_at):
    """Offset just past the `}` that closes the `{` at open_at."""
    depth = 0
    for j in range(open_at, len(code)):
        ch = code[j]
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return j + 1
    return len(code)


def item_end(code, start):
    """End of the item starting at `start`: past its closing brace, or past its `;`
    when a `;` comes first (outside parentheses and brackets)."""
    depth = 0
    for j in range(start, len(code)):
        ch = code[j]
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif depth == 0 and ch == ";":
            return j + 1
        elif depth == 0 and ch == "{":
            return match_brace(code, j)
    return len(code)


CFG_TEST = re.compile(r"#\[cfg\((?:test|all\(test\b[^\]]*|any\(test\b[^\]]*)\)\]")


def strip_test_items(code):
    """Blanks every item under `#[cfg(test)]` (and `all(test, ...)`). Returns the new
    code, the names of test-only child modules declared as `mod x;` and the (start, end)
    offsets of the blanked items."""
    out = list(code)
    test_mods, spans = [], []
    pos = 0
    while True:
        m = CFG_TEST.search(code, pos)
        if not m:
            break
        j = m.end()
        # skip further attributes and whitespace
        while True:
            w = re.match(r"\s*(#\[[^\]]*\])?", code[j:])
            if not w.group(1):
                j += len(w.group(0))
                break
            j += len(w.group(0))
        decl = re.match(r"(?:pub(?:\([^)]*\))?\s+)?mod\s+(" + IDENT + r")\s*;", code[j:])
        if decl:
            test_mods.append(decl.group(1))
        end = item_end(code, j)
        for k in range(m.start(), end):
            if out[k] != "\n":
                out[k] = " "
        spans.append((m.start(), end))
        pos = end
    return "".join(out), test_mods, spans


# ---------------------------------------------------------------------------------------
# functions


def line_of(starts, offset):
    """1-based line number of an offset, given the offsets where lines start."""
    lo, hi = 0, len(starts)
    while lo + 1 < hi:
        mid = (lo + hi) // 2
        if starts[mid] <= offset:
            lo = mid
        else:
            hi = mid
    return lo + 1


def strip_generics(text):
    text = text.replace("->", " ")
    while True:
        new = re.sub(r"<[^<>]*>", "", text)
        if new == text:
            return text
        text = new


def impl_blocks(code):
    """(start, end, type name) of each `impl` and `trait` block."""
    blocks = []
    for m in re.finditer(r"\b(impl|trait)\b", code):
        before = code[max(0, m.start() - 200): m.start()].rstrip()
        # an item starts the file or follows `}`, `;`, `{`, an attribute or a qualifier;
        # `-> impl Trait`, `x: impl Fn()`, `Box<impl ...>` are types, not blocks
        item_start = (
            not before
            or before[-1] in "{};]"
            or re.search(r"\b(?:unsafe|pub|default|auto)$", before)
            or re.search(r"\bpub\s*\([^)]*\)$", before)
        )
        if not item_start:
            continue
        brace = code.find("{", m.end())
        semi = code.find(";", m.end())
        if brace < 0 or (0 <= semi < brace):
            continue
        header = strip_generics(code[m.end():brace])
        header = re.split(r"\bwhere\b", header)[0]
        if m.group(1) == "trait":
            name = re.match(r"\s*(" + IDENT + ")", header)
        else:
            part = re.split(r"\bfor\b", header)[-1]
            name = re.search(r"(" + IDENT + r")\s*$", part.strip().rstrip(")").strip("&* ")) or re.search(IDENT, part)
        if name:
            blocks.append((brace, match_brace(code, brace), name.group(1)))
    return blocks


def functions(code, starts):
    """(name, first line, last line, is `pub async`) of every fn with a body."""
    impls = impl_blocks(code)
    found = []
    for m in re.finditer(r"\bfn\s+(" + IDENT + r")", code):
        depth, j, body = 0, m.end(), None
        while j < len(code):
            ch = code[j]
            if ch in "([":
                depth += 1
            elif ch in ")]":
                depth -= 1
            elif depth == 0 and ch == ";":
                break
            elif depth == 0 and ch == "{":
                body = j
                break
            j += 1
        if body is None:
            continue
        end = match_brace(code, body)
        owner = [name for (a, b, name) in impls if a < m.start() < b]
        name = (owner[-1] + "::" if owner else "") + m.group(1)
        head = code[max(0, m.start() - 80): m.start()]
        is_pub_async = bool(re.search(r"\bpub\s+async\s+(?:unsafe\s+)?$", head))
        found.append((name, line_of(starts, m.start()), line_of(starts, end - 1), is_pub_async))
    return found


# ---------------------------------------------------------------------------------------
# module tree and references


def module_path_of(rel):
    """Module path (tuple) of a file relative to its crate's src/."""
    parts = list(Path(rel).parts)
    if parts == ["lib.rs"] or parts == ["main.rs"]:
        return ()
    last = parts.pop()
    if last != "mod.rs":
        parts.append(last[:-3])
    return tuple(parts)


def split_top(text, sep=","):
    """Splits at `sep` outside braces."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def expand_use_tree(text, prefix=()):
    """(path tuple, is glob) for each leaf of a use tree (whitespace already removed)."""
    brace = text.find("{")
    if brace >= 0:
        head = [s for s in text[:brace].split("::") if s]
        inner = text[brace + 1: text.rfind("}")]
        leaves = []
        for part in split_top(inner):
            leaves.extend(expand_use_tree(part, prefix + tuple(head)))
        return leaves
    segs = [s for s in text.split("::") if s]
    if not segs:
        return []
    if segs[-1] == "*":
        return [(prefix + tuple(segs[:-1]), True)]
    return [(prefix + tuple(segs), False)]


def parse_uses(code):
    """(start offset, end offset, is pub, [(path, alias, glob)]) for every `use`
    declaration."""
    uses = []
    for m in re.finditer(r"(?<![A-Za-z0-9_#])(pub(?:\s*\([^)]*\))?\s+)?use\s+", code):
        end = code.find(";", m.end())
        if end < 0:
            continue
        raw = code[m.end():end]
        # mark `as` renames before the whitespace goes: `a::B as C` -> `a::B@C`
        raw = re.sub(r"\s+as\s+(" + IDENT + r")", r"@\1", raw)
        raw = re.sub(r"\s+", "", raw)
        leaves = []
        for path, glob in expand_use_tree(raw):
            alias = None
            if path and "@" in path[-1]:
                last, alias = path[-1].split("@", 1)
                path = path[:-1] + (last,)
            if path and path[-1] == "self":  # `a::{self}`: the module a
                path = path[:-1]
            if path and path[0] == "":
                path = path[1:]
            leaves.append((path, alias, glob))
        uses.append((m.start(), end, bool(m.group(1)), leaves))
    return uses


DEFINES = "(?:fn|struct|enum|trait|type|const|static|mod|union|macro_rules!)"


class Crate:
    def __init__(self, name, files):
        """files: {path relative to src/: (full path, cleaned code)}"""
        self.name = name
        self.code = {}
        self.modules = {}  # module path -> file
        self.inline = {}  # file -> [(start, end, (names...))]
        for rel, (full, code) in files.items():
            self.code[full] = code
            mp = module_path_of(rel)
            # a foo.rs and foo/mod.rs cannot both exist; lib.rs wins over main.rs
            if mp not in self.modules or rel == "lib.rs":
                self.modules[mp] = full
            self.inline[full] = []
            for im in re.finditer(r"(?<![A-Za-z0-9_])mod\s+(" + IDENT + r")\s*\{", code):
                self.inline[full].append((im.end() - 1, match_brace(code, im.end() - 1), im.group(1)))
        self.file_module = {}
        for mp, f in self.modules.items():
            self.file_module.setdefault(f, mp)
        for f, blocks in self.inline.items():
            for (a, b, name) in blocks:
                mp = self.module_at(f, a + 1)
                self.modules.setdefault(mp, f)
        self.uses = {f: parse_uses(c) for f, c in self.code.items()}

    def module_at(self, f, offset):
        """Module path at an offset of a file (inline `mod x { }` blocks included)."""
        mp = self.file_module[f]
        for (a, b, name) in sorted(self.inline[f]):
            if a < offset < b:
                mp = mp + (name,)
        return mp

    def children(self, mp):
        return {p[-1] for p in self.modules if len(p) == len(mp) + 1 and p[:-1] == mp}

    def absolute(self, mp, path, aliases):
        """Absolute module path of a path written in module mp, or None when it is not
        a path into this crate (std, another crate, a local name)."""
        if not path:
            return None
        head, rest = path[0], list(path[1:])
        if head == "crate" or head == "$crate":
            base = ()
        elif head == "self":
            base = mp
        elif head == "super":
            base = mp[:-1]
            while rest and rest[0] == "super":
                base, rest = base[:-1], rest[1:]
        elif head in self.children(mp):
            base = mp + (head,)
        elif head in aliases:
            base = aliases[head]
        else:
            return None
        return tuple(base) + tuple(rest)

    def defines(self, f, name):
        return re.search(r"\b" + DEFINES + r"\s+" + re.escape(name) + r"\b", self.code[f]) is not None

    def resolve(self, path, depth=0):
        """File that a crate-absolute path lands in, through re-exports; None when the
        path names a module as a whole."""
        cur, i = (), 0
        while i < len(path) and cur + (path[i],) in self.modules:
            cur, i = cur + (path[i],), i + 1
        if i == len(path):
            return None
        f = self.modules[cur]
        name = path[i]
        if depth < 8 and not self.defines(f, name):
            for (_off, _end, _pub, leaves) in self.uses[f]:
                for (p, alias, glob) in leaves:
                    target = self.absolute(cur, p, {})
                    if target is None:
                        continue
                    if not glob and (alias or (p[-1] if p else None)) == name:
                        return self.resolve(target + tuple(path[i + 1:]), depth + 1) or self.modules.get(target, f)
                    if glob and target in self.modules:
                        g = self.modules[target]
                        if g != f and (self.defines(g, name) or name in self.children(target)):
                            return self.resolve(target + tuple(path[i:]), depth + 1) or g
        return f

    def edges(self):
        """{file: {file it refers to: (first reference as text, re-export only)}}"""
        graph = {f: {} for f in self.code}

        def add(f, t, via, reexport):
            if t and t != f:
                old = graph[f].get(t)
                if old is None:
                    graph[f][t] = (via, reexport)
                elif old[1] and not reexport:
                    graph[f][t] = (via, False)

        for f, code in self.code.items():
            aliases, spans = {}, []
            # the words of the file outside its use declarations: a re-exported name that
            # the file also uses itself is a real reference
            outside = list(code)
            for (off, end, _pub, _leaves) in self.uses[f]:
                outside[off:end] = " " * (end - off)
            words = set(re.findall(IDENT, "".join(outside)))
            for (off, end, pub, leaves) in self.uses[f]:
                spans.append((off, end))
                mp = self.module_at(f, off)
                for (p, alias, glob) in leaves:
                    target = self.absolute(mp, p, aliases)
                    if target is None:
                        continue
                    if glob:
                        t = self.modules.get(target) or self.resolve(target)
                    else:
                        t = self.resolve(target)
                        if t is None:  # a module imported by name: its paths count
                            if target:
                                aliases[alias or target[-1]] = target
                            continue
                    reexport_only = pub and not glob and (alias or p[-1]) not in words
                    add(f, t, ("pub use " if pub else "use ") + "::".join(p) + ("::*" if glob else ""), reexport_only)
            # paths in code, outside the use declarations
            path_re = r"(?<![A-Za-z0-9_:.])(\$?" + IDENT + r")((?:\s*::\s*" + IDENT + r")+)"
            for m in re.finditer(path_re, code):
                if any(a <= m.start() < b for (a, b) in spans):
                    continue
                segs = [m.group(1)] + [s.strip() for s in m.group(2).split("::") if s.strip()]
                target = self.absolute(self.module_at(f, m.start()), tuple(segs), aliases)
                if target is not None:
                    add(f, self.resolve(target), "::".join(segs), False)
        return graph


def tarjan(graph):
    index, low, on, stack, comps, counter = {}, {}, set(), [], [], [0]

    def visit(v):
        # iterative to stay clear of Python's recursion limit
        work = [(v, iter(sorted(graph[v])))]
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        while work:
            node, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    advanced = True
                    break
                if w in on:
                    low[node] = min(low[node], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                comps.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return comps


# ---------------------------------------------------------------------------------------


def measure(rev):
    texts = list_files(rev)
    by_crate = {}
    for path, text in texts.items():
        crate, rel = re.match(r"crates/([^/]+)/src/(.+)", path).groups()
        by_crate.setdefault(crate, {})[rel] = (path, text)

    funcs, handlers, files, circles, circles_plain = [], [], [], {}, {}
    for crate in sorted(by_crate):
        cleaned, test_only = {}, set()
        for rel, (path, text) in by_crate[crate].items():
            code, test_mods, spans = strip_test_items(blank_comments_and_literals(text))
            cleaned[rel] = (path, code, spans)
            mp = module_path_of(rel)
            for t in test_mods:
                test_only.add(mp + (t,))
        kept = {}
        for rel, (path, code, spans) in cleaned.items():
            mp = module_path_of(rel)
            if "tests" in Path(rel).parts[:-1] or any(mp[: len(t)] == t for t in test_only):
                continue
            kept[rel] = (path, code)
            text = by_crate[crate][rel][1]
            starts = [0] + [k + 1 for k, ch in enumerate(code) if ch == "\n"]
            total = text.count("\n") + (0 if text.endswith("\n") else 1)
            test_lines = sum(line_of(starts, b - 1) - line_of(starts, a) + 1 for (a, b) in spans)
            files.append({"file": path, "lines": total - test_lines, "total_lines": total})
            is_route = crate == "detective-server" and rel.startswith("routes/")
            for (name, a, b, pub_async) in functions(code, starts):
                row = {"file": path, "name": name, "line": a, "lines": b - a + 1}
                funcs.append(row)
                if is_route and pub_async:
                    handlers.append(row)
        c = Crate(crate, kept)
        graph = c.edges()
        circles[crate] = []
        for comp in (comp for comp in tarjan(graph) if len(comp) >= 2):
            inside = [(a, b) for a in comp for b in sorted(graph[a]) if b in comp]
            circles[crate].append({
                "files": comp,
                "mutual_pairs": [[a, b] for (a, b) in inside if a < b and a in graph[b]],
                "edges": [
                    {"from": a, "to": b, "via": graph[a][b][0], "reexport_only": graph[a][b][1]} for (a, b) in inside
                ],
            })
        # the same without the edges that are only `pub use` re-exports
        plain = {a: {b for b, (_via, rx) in out.items() if not rx} for a, out in graph.items()}
        circles_plain[crate] = [comp for comp in tarjan(plain) if len(comp) >= 2]

    funcs.sort(key=lambda r: (-r["lines"], r["file"], r["line"]))
    handlers.sort(key=lambda r: (-r["lines"], r["file"], r["line"]))
    files.sort(key=lambda r: (-r["lines"], r["file"]))
    return {
        "rev": rev or "working tree",
        "functions": {"count": len(funcs), "top": funcs[:TOP]},
        "handlers": {"count": len(handlers), "top": handlers[:TOP]},
        "files": {"count": len(files), "top": files[:TOP]},
        "circles": {
            "total": sum(len(v) for v in circles.values()),
            "per_crate": {k: len(v) for k, v in circles.items()},
            "list": circles,
            "without_reexport_edges": {
                "total": sum(len(v) for v in circles_plain.values()),
                "per_crate": {k: len(v) for k, v in circles_plain.items()},
                "list": circles_plain,
            },
        },
    }


def short(path):
    return path[len("crates/"):] if path.startswith("crates/") else path


def report(m):
    out = [f"code metrics of {m['rev']} (crates/*/src, non-test code)", ""]
    f = m["functions"]
    out.append(f"longest functions ({f['count']} fns with a body):")
    for r in f["top"]:
        out.append(f"  {r['lines']:5}  {r['name']}  {short(r['file'])}:{r['line']}")
    h = m["handlers"]
    out += ["", f"longest axum handlers (pub async fn in detective-server/src/routes, {h['count']}):"]
    for r in h["top"]:
        out.append(f"  {r['lines']:5}  {r['name']}  {short(r['file'])}:{r['line']}")
    fl = m["files"]
    out += ["", f"largest files ({fl['count']} files; lines without test items, all lines in brackets):"]
    for r in fl["top"]:
        out.append(f"  {r['lines']:5}  ({r['total_lines']})  {short(r['file'])}")
    c = m["circles"]
    wo = c["without_reexport_edges"]
    out += ["", f"file-level import circles: {c['total']} in total "
            f"({wo['total']} if `pub use` re-exports are not counted as edges)"]
    for crate, n in c["per_crate"].items():
        prefix = f"crates/{crate}/src/"

        def rel(p):
            return p[len(prefix):] if p.startswith(prefix) else p

        out.append(f"  {crate}: {n} ({wo['per_crate'][crate]} without re-export edges)")
        for comp in c["list"][crate]:
            out.append(f"    - {', '.join(rel(p) for p in comp['files'])}")
            if comp["mutual_pairs"]:
                out.append("      mutual: " + "; ".join(f"{rel(a)} <-> {rel(b)}" for a, b in comp["mutual_pairs"]))
            for e in comp["edges"]:
                note = ", re-export only" if e["reexport_only"] else ""
                out.append(f"        {rel(e['from'])} -> {rel(e['to'])}   ({e['via']}{note})")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rev", help="measure the files of this git commit instead of the working tree")
    ap.add_argument("--json", action="store_true", help="print JSON")
    args = ap.parse_args()
    m = measure(args.rev)
    if args.json:
        json.dump(m, sys.stdout, indent=2)
        print()
    else:
        print(report(m))


if __name__ == "__main__":
    main()
