#!/usr/bin/env python3
"""Turns kustomize's own krusty tests (api/krusty/*_test.go of a kustomize checkout) into
data-driven conformance cases for Gantry: for every `th.Run`/`th.RunWithErr` call, the files the
test had written, the directory it built, its options, and what the test checked (the expected
output, or the checks on the error).

It interprets the small part of Go these tests are written in: string literals and constants,
`+`, helper functions taking the harness, `t.Run` subtests, and table-driven tests whose rows are
struct literals of strings. A test using anything else (plugins built at test time, Helm, the
real disk, computed contents) is skipped and listed with the reason.

usage: extract.py KUSTOMIZE_CHECKOUT OUT_DIR [--skip-existing SHARED_CASES_DIR] [--commit SHA]
"""
import json
import os
import re
import shutil
import sys

# ---------------------------------------------------------------- tokens

TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<comment>//[^\n]*|/\*.*?\*/)
  | (?P<raw>`[^`]*`)
  | (?P<str>"(?:\\.|[^"\\\n])*")
  | (?P<rune>'(?:\\.|[^'\\\n])*')
  | (?P<num>\d+(?:\.\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>:=|==|!=|<=|>=|&&|\|\||\+\+|--|\.\.\.|[-+*/%&|^<>=!:;,.(){}\[\]])
""",
    re.S | re.X,
)


class Tok:
    __slots__ = ("kind", "text")

    def __init__(self, kind, text):
        self.kind, self.text = kind, text

    def __repr__(self):
        return f"{self.kind}:{self.text}"


def tokenize(src):
    out, i = [], 0
    while i < len(src):
        m = TOKEN.match(src, i)
        if not m:
            raise ValueError(f"cannot tokenize at {src[i:i+30]!r}")
        i = m.end()
        kind = m.lastgroup
        if kind in ("ws", "comment"):
            continue
        out.append(Tok(kind, m.group(kind)))
    return out


def go_unquote(s):
    body = s[1:-1]
    out, i = [], 0
    esc = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "a": "\a",
           "b": "\b", "f": "\f", "v": "\v"}
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        n = body[i + 1]
        if n in esc:
            out.append(esc[n])
            i += 2
        elif n == "x":
            out.append(chr(int(body[i + 2:i + 4], 16)))
            i += 4
        elif n == "u":
            out.append(chr(int(body[i + 2:i + 6], 16)))
            i += 6
        elif n == "U":
            out.append(chr(int(body[i + 2:i + 10], 16)))
            i += 10
        elif n in "01234567":
            out.append(chr(int(body[i + 1:i + 4], 8)))
            i += 4
        else:
            raise Unsupported(f"escape \\{n}")
    return "".join(out)


KRUSTY_DIR = [""]


class Unsupported(Exception):
    pass


def match_close(toks, i):
    """Index of the bracket closing the one at toks[i]."""
    pairs = {"(": ")", "{": "}", "[": "]"}
    open_, close = toks[i].text, pairs[toks[i].text]
    depth = 0
    for j in range(i, len(toks)):
        t = toks[j]
        if t.kind == "op":
            if t.text == open_:
                depth += 1
            elif t.text == close:
                depth -= 1
                if depth == 0:
                    return j
    raise ValueError("unbalanced")


def top_assign(toks):
    """Index of the `:=` or `=` of an assignment statement (at bracket depth 0), else None."""
    depth = 0
    for i, t in enumerate(toks):
        if t.kind == "op" and t.text in "([{":
            depth += 1
        elif t.kind == "op" and t.text in ")]}":
            depth -= 1
        elif depth == 0 and t.kind == "op" and t.text in (":=", "="):
            return i
    return None


def split_top(toks, sep=","):
    parts, cur, depth = [], [], 0
    for t in toks:
        if t.kind == "op" and t.text in "([{":
            depth += 1
        elif t.kind == "op" and t.text in ")]}":
            depth -= 1
        if depth == 0 and t.kind == "op" and t.text == sep:
            parts.append(cur)
            cur = []
        else:
            cur.append(t)
    if cur:
        parts.append(cur)
    return parts


def statements(toks):
    """Splits a block body into statements: a newline is lost in tokens, so a statement ends
    where the next one plainly starts (an identifier at depth 0 after a complete expression)."""
    stmts, cur, depth = [], [], 0
    for idx, t in enumerate(toks):
        if t.kind == "op" and t.text in "([{":
            depth += 1
        elif t.kind == "op" and t.text in ")]}":
            depth -= 1
        cur.append(t)
        if depth == 0:
            nxt = toks[idx + 1] if idx + 1 < len(toks) else None
            ends = (t.kind == "op" and t.text in (")", "}", ";")) or t.kind in ("raw", "str", "num", "ident")
            starts = nxt is not None and nxt.kind == "ident" and nxt.text not in ("else",)
            if t.kind == "op" and t.text == ";":
                stmts.append(cur[:-1])
                cur = []
            elif ends and starts and not (t.kind == "ident" and t.text in (
                    "return", "func", "range", "var", "const", "if", "for", "go", "defer", "else", "case")):
                # `a := b` continues after an identifier only through an operator.
                stmts.append(cur)
                cur = []
    if cur:
        stmts.append(cur)
    return [s for s in stmts if s]


# ---------------------------------------------------------------- values


class Env:
    def __init__(self, parent=None):
        self.vars, self.parent = {}, parent

    def get(self, name):
        e = self
        while e:
            if name in e.vars:
                v = e.vars[name]
                if isinstance(v, Unknown):
                    raise Unsupported(f"{name}: {v.reason}")
                return v
            e = e.parent
        raise Unsupported(f"unknown name {name}")

    def set(self, name, v):
        self.vars[name] = v

    def assign(self, name, v):
        e = self
        while e:
            if name in e.vars:
                e.vars[name] = v
                return
            e = e.parent
        self.vars[name] = v


class Struct(dict):
    pass


class Unknown:
    """A value the interpreter could not compute; using it makes the test unsupported."""

    def __init__(self, reason):
        self.reason = reason


class Func:
    def __init__(self, params, body, env):
        self.params, self.body, self.env = params, body, env


HARNESS = object()


def eval_expr(toks, env, interp):
    if not toks:
        raise Unsupported("empty expression")
    parts = split_top(toks, "+")
    if len(parts) > 1:
        vals = [eval_expr(p, env, interp) for p in parts]
        if all(isinstance(v, str) for v in vals):
            return "".join(vals)
        raise Unsupported("+ of non-strings")
    t = toks
    if len(t) == 1:
        x = t[0]
        if x.kind == "raw":
            return x.text[1:-1].replace("\r", "")
        if x.kind == "str":
            return go_unquote(x.text)
        if x.kind == "num":
            return int(x.text) if x.text.isdigit() else float(x.text)
        if x.kind == "ident":
            if x.text in ("true", "false"):
                return x.text == "true"
            if x.text == "nil":
                return None
            try:
                return env.get(x.text)
            except Unsupported:
                if x.text in interp.funcs:
                    return interp.funcs[x.text]
                raise
    # selector a.b
    if len(t) == 3 and t[0].kind == "ident" and t[1].text == "." and t[2].kind == "ident":
        base = env.get(t[0].text) if t[0].text not in ("konfig", "types", "krusty") else None
        if isinstance(base, Struct):
            if t[2].text in base:
                return base[t[2].text]
            return ""  # a zero value
        if t[0].text == "konfig" and t[2].text == "DefaultKustomizationFileName":
            return "kustomization.yaml"
        raise Unsupported("selector " + "".join(x.text for x in t))
    if t[0].kind == "ident" and t[0].text == "func" and t[-1].text == "}":
        return make_func(t, env)
    # calls
    if t[-1].text == ")":
        open_i = None
        depth = 0
        for j in range(len(t) - 1, -1, -1):
            if t[j].text == ")":
                depth += 1
            elif t[j].text == "(":
                depth -= 1
                if depth == 0:
                    open_i = j
                    break
        fn = "".join(x.text for x in t[:open_i])
        args = split_top(t[open_i + 1:-1])
        if t[0].text == "func":
            return interp.call(make_func(t[:open_i], env), [])
        if fn in ("th.Run", "th.RunWithErr"):
            return interp.harness_call(t, env)
        if fn == "th.MakeDefaultOptions" or fn == "th.MakeOptionsPluginsDisabled":
            return {"options": "default"}
        if fn == "th.MakeOptionsPluginsEnabled":
            return {"options": "plugins"}
        if fn == "krusty.MakeDefaultOptions":
            return {"options": "default"}
        if fn in ("filepath.Join", "th.Join", "path.Join"):
            vals = [eval_expr(a, env, interp) for a in args]
            return os.path.normpath("/".join(v for v in vals if v)).lstrip("./") if vals else ""
        if fn == "th.GetRoot":
            return ""
        if fn == "os.ReadFile":
            with open(os.path.join(KRUSTY_DIR[0], eval_expr(args[0], env, interp)), encoding="utf-8") as fh:
                return fh.read()
        if fn == "string" and len(args) == 1:
            v = eval_expr(args[0], env, interp)
            if isinstance(v, str):
                return v
            raise Unsupported("string() of bytes")
        if fn == "konfig.DefaultKustomizationFileName":
            return "kustomization.yaml"
        if fn == "loader.ErrRtNotDir.Error":
            return "must build at directory"
        if fn == "strings.TrimSpace":
            return eval_expr(args[0], env, interp).strip()
        if fn == "strings.Repeat":
            return eval_expr(args[0], env, interp) * eval_expr(args[1], env, interp)
        if fn == "strings.ReplaceAll":
            a, b, c = (eval_expr(x, env, interp) for x in args)
            return a.replace(b, c)
        if fn == "fmt.Sprintf":
            f = eval_expr(args[0], env, interp)
            vals = [eval_expr(a, env, interp) for a in args[1:]]
            if re.search(r"%[^sdvq%]", f):
                raise Unsupported("Sprintf verb")
            out, vi = [], 0
            for piece in re.split(r"(%[sdvq%])", f):
                if piece in ("%s", "%d", "%v"):
                    out.append(str(vals[vi]))
                    vi += 1
                elif piece == "%q":
                    out.append(json.dumps(vals[vi]))
                    vi += 1
                elif piece == "%%":
                    out.append("%")
                else:
                    out.append(piece)
            return "".join(out)
        if fn in interp.funcs:
            return interp.call(interp.funcs[fn], [eval_expr(a, env, interp) for a in args])
        try:
            v = env.get(fn)
        except Unsupported:
            v = None
        if isinstance(v, Func):
            return interp.call(v, [eval_expr(a, env, interp) for a in args])
        raise Unsupported(f"call {fn}")
    # composite literals: []T{...}, map[string]T{...}, T{...}, struct{...}{...}
    if t[-1].text == "}":
        depth = 0
        for j in range(len(t) - 1, -1, -1):
            if t[j].text == "}":
                depth += 1
            elif t[j].text == "{":
                depth -= 1
                if depth == 0:
                    open_i = j
                    break
        typ = "".join(x.text for x in t[:open_i])
        elems = split_top(t[open_i + 1:-1])
        if typ.startswith("map["):
            out = {}
            for e in elems:
                kv = split_top(e, ":")
                if len(kv) != 2:
                    raise Unsupported("map element")
                val = kv[1]
                if val and val[0].text == "{":
                    out[eval_expr(kv[0], env, interp)] = eval_struct(val, env, interp)
                else:
                    out[eval_expr(kv[0], env, interp)] = eval_expr(val, env, interp)
            return out
        if typ.startswith("[]") or typ == "":
            items = []
            for e in elems:
                if e and e[0].text == "{":
                    items.append(eval_struct(e, env, interp))
                else:
                    items.append(eval_expr(e, env, interp))
            return items
        return eval_struct(t[open_i:], env, interp)
    if t[0].kind == "ident" and t[0].text == "func":
        return make_func(t, env)
    if t[0].text == "&":
        return eval_expr(t[1:], env, interp)
    raise Unsupported("expression " + " ".join(x.text for x in t[:8]))


def eval_struct(toks, env, interp):
    assert toks[0].text == "{"
    s = Struct()
    for e in split_top(toks[1:-1]):
        kv = split_top(e, ":")
        if len(kv) != 2 or len(kv[0]) != 1:
            raise Unsupported("positional struct literal")
        s[kv[0][0].text] = eval_expr(kv[1], env, interp)
    return s


def make_func(t, env):
    # func(params) [result] { body }
    close = match_close(t, 1)
    params = [p[0].text for p in split_top(t[2:close]) if p]
    j = close + 1
    while t[j].text != "{":
        j += 1
    end = match_close(t, j)
    return Func(params, t[j + 1:end], env)


# ---------------------------------------------------------------- the interpreter


class Case:
    def __init__(self, name, files, build, options, restrictor):
        self.name, self.files, self.build = name, dict(files), build
        self.options, self.restrictor = options, restrictor
        self.expect, self.expected, self.checks = None, None, []


class Interp:
    def __init__(self, funcs, globals_):
        self.funcs, self.globals = funcs, globals_
        self.files = {}
        self.cases = []
        self.names = []
        self.last_case = None
        self.err_name = None
        self.restrictor = "RootOnly"

    def call(self, f, args):
        env = Env(f.env)
        for p, a in zip(f.params, args):
            env.set(p, a)
        return self.block(f.body, env)

    def write(self, path, content):
        path = os.path.normpath(path).lstrip("/")
        if path.startswith("./"):
            path = path[2:]
        if path == ".":
            raise Unsupported("write to the root itself")
        self.files[path] = content

    def run(self, path, opts, with_err):
        if isinstance(opts, dict) and opts.get("options") == "plugins":
            plug = True
        else:
            plug = False
        sub = "__".join(re.sub(r"[^A-Za-z0-9._-]", "_", n) for n in self.names)
        restrictor = self.restrictor
        reorder = "none"
        if isinstance(opts, dict):
            if opts.get("LoadRestrictions") == "LoadRestrictionsNone":
                restrictor = "None"
            elif opts.get("LoadRestrictions") == "LoadRestrictionsRootOnly":
                restrictor = "RootOnly"
            if opts.get("Reorder") in ("ReorderOptionLegacy", "ReorderOptionUnspecified"):
                reorder = "legacy"
        c = Case(sub, self.files, os.path.normpath(path).lstrip("/") or ".", "plugins" if plug else "default", restrictor)
        c.reorder = reorder
        c.expect = "error" if with_err else "yaml"
        self.cases.append(c)
        self.last_case = c
        return c

    def block(self, toks, env):
        for st in statements(toks):
            r = self.stmt(st, env)
            if isinstance(r, tuple) and r[0] == "return":
                return r[1]
        return None

    def stmt(self, st, env):
        txt = [x.text for x in st]
        head = txt[0]
        if head == "return":
            if len(st) == 1:
                return ("return", None)
            return ("return", eval_expr(st[1:], env, self))
        if head in ("if",):
            return self.if_stmt(st, env)
        if head == "for":
            return self.for_stmt(st, env)
        if head in ("defer", "go", "var", "type"):
            if head == "var":
                return self.var_stmt(st, env)
            return None
        if head == "const":
            return self.var_stmt(st, env)
        # th := kusttest_test.MakeHarness(t)
        if len(txt) >= 4 and txt[1] in (":=", "=") and txt[2] == "kusttest_test":
            ctor = txt[4]
            if ctor in ("MakeHarness", "MakeEnhancedHarness", "MakeHarnessWithFs",
                        "MakeEnhancedHarnessWithTmpRoot"):
                self.files = {}
                env.set(txt[0], HARNESS)
                return None
            raise Unsupported("harness " + ctor)
        if len(txt) >= 3 and txt[0] == "th" and txt[1] == ".":
            return self.harness_call(st, env)
        if txt[:3] == ["t", ".", "Run"] or txt[:3] == ["t", ".", "Parallel"]:
            if txt[2] == "Parallel":
                return None
            close = match_close(st, 3)
            args = split_top(st[4:close])
            name = eval_expr(args[0], env, self)
            fn = eval_expr(args[1], env, self)
            saved = dict(self.files)
            self.names.append(name)
            try:
                self.block(fn.body, Env(env))
            finally:
                self.names.pop()
                self.files = saved
            return None
        # assignments
        k = top_assign(st)
        if k is not None:
            op = txt[k]
            lhs = [p for p in split_top(st[:k])]
            rhs = st[k + 1:]
            if len(rhs) >= 3 and rhs[0].text == "th" and rhs[2].text in ("Run", "RunWithErr"):
                c = self.harness_call(rhs, env)
                self.err_name = lhs[0][0].text if rhs[2].text == "RunWithErr" else None
                env.set(lhs[0][0].text, c)
                return None
            if len(lhs) == 1 and len(lhs[0]) == 3 and lhs[0][1].text == ".":
                target = env.get(lhs[0][0].text)
                if isinstance(target, dict) and "options" in target:
                    target[lhs[0][2].text] = rhs[-1].text
                    return None
                raise Unsupported("field assignment")
            if len(lhs) == 1 and len(lhs[0]) == 1:
                try:
                    v = eval_expr(rhs, env, self)
                except Unsupported as e:
                    v = Unknown(str(e))
                if op == ":=":
                    env.set(lhs[0][0].text, v)
                else:
                    env.assign(lhs[0][0].text, v)
                return None
            if len(lhs) == 2 and txt[k + 1] == "range":
                return None
            if len(lhs) == 2 and txt[k + 1:k + 4] == ["os", ".", "ReadFile"]:
                env.set(lhs[0][0].text, eval_expr(rhs, env, self))
                return None
            return None
        # calls of helpers: writeTestBase(th), tc.fn(th), f(th)
        if st[-1].text == ")":
            fname = "".join(x.text for x in st[:[x.text for x in st].index("(")])
            if fname in ("assert.Contains", "require.Contains", "assert.EqualError",
                         "require.EqualError", "assert.Equal", "require.Equal",
                         "assert.ErrorContains", "require.ErrorContains", "assert.Error",
                         "require.Error", "assert.NotContains", "assert.Regexp",
                         "require.Regexp", "assert.True", "require.True", "assert.NoError",
                         "require.NoError", "assert.Len", "assert.Nil", "assert.NotNil",
                         "require.NotNil", "require.Nil", "assert.ErrorIs", "require.ErrorIs",
                         "assert.False", "require.False"):
                self.record_check(fname, st, env)
                return None
            if fname.startswith(("t.", "fmt.", "log.", "openapi.Reset")):
                return None
            try:
                fn = self.funcs.get(fname) or env.get(fname)
            except Unsupported:
                fn = None
            if fname.startswith("tc.") or fname.startswith("test."):
                fn = env.get(fname.split(".")[0]).get(fname.split(".")[1])
            if isinstance(fn, Func):
                open_ = [x.text for x in st].index("(")
                while True:
                    close = match_close(st, open_)
                    args = [eval_expr(a, env, self) if not (len(a) == 1 and a[0].text == "th") else HARNESS
                            for a in split_top(st[open_ + 1:close])]
                    fn = self.call(fn, args)
                    if close + 1 < len(st) and st[close + 1].text == "(" and isinstance(fn, Func):
                        open_ = close + 1
                        continue
                    return None
            if isinstance(fn, list):
                raise Unsupported("call of a list")
            if fname in ("checkYaml", "checkErr"):
                raise Unsupported(fname)
            raise Unsupported("statement call " + fname)
        if head in ("}", ";"):
            return None
        raise Unsupported("statement " + " ".join(txt[:6]))

    def cond(self, toks, env):
        """Evaluates a simple condition, or returns None when it is not about known values."""
        txt = [x.text for x in toks]
        if "err" in txt or (self.err_name and self.err_name in txt):
            return None
        try:
            for op in ("==", "!="):
                depth = 0
                for i, t in enumerate(toks):
                    if t.text in "([{":
                        depth += 1
                    elif t.text in ")]}":
                        depth -= 1
                    elif depth == 0 and t.text == op:
                        a = eval_expr(toks[:i], env, self)
                        b = eval_expr(toks[i + 1:], env, self)
                        return (a == b) == (op == "==")
            if txt[0] == "!":
                return not eval_expr(toks[1:], env, self)
            return bool(eval_expr(toks, env, self))
        except Unsupported:
            return None

    def if_stmt(self, st, env):
        txt = [x.text for x in st]
        depth, brace = 0, None
        for i, t in enumerate(st):
            if t.text in "([" and t.kind == "op":
                depth += 1
            elif t.text in ")]" and t.kind == "op":
                depth -= 1
            elif t.text == "{" and depth == 0 and i > 1:
                brace = i
                break
        if brace is None:
            raise Unsupported("if without body")
        end = match_close(st, brace)
        c = self.cond(st[1:brace], env)
        if c is None:
            # `if err != nil { t.Fatal }`-like guards: run neither branch; error checks inside
            # are recorded by scanning.
            self.scan_checks(st, env)
            return None
        rest = st[end + 1:]
        if c:
            return self.block(st[brace + 1:end], Env(env))
        if rest and rest[0].text == "else":
            rest = rest[1:]
            if rest and rest[0].text == "if":
                return self.if_stmt(rest, env)
            return self.block(rest[1:match_close(rest, 0)], Env(env))
        return None

    def var_stmt(self, st, env):
        txt = [x.text for x in st]
        if len(txt) > 1 and txt[1] == "(":
            close = match_close(st, 1)
            for s in statements(st[2:close]):
                self.var_stmt([Tok("ident", "var")] + s, env)
            return None
        if "=" in txt:
            k = txt.index("=")
            try:
                v = eval_expr(st[k + 1:], env, self)
            except Unsupported:
                v = None
            env.set(txt[1], v)
        else:
            env.set(txt[1], None)
        return None

    def for_stmt(self, st, env):
        txt = [x.text for x in st]
        if "range" not in txt:
            raise Unsupported("for without range")
        brace = txt.index("{")
        r = txt.index("range")
        coll = eval_expr(st[r + 1:brace], env, self)
        if isinstance(coll, Unknown) or coll is None:
            raise Unsupported("range over " + (coll.reason if coll else "nil"))
        names = [p[0].text for p in split_top(st[1:r - 1])]
        body = st[brace + 1:match_close(st, brace)]
        items = sorted(coll.items()) if isinstance(coll, dict) else list(enumerate(coll or []))
        for k, v in items:
            e = Env(env)
            if len(names) == 2:
                e.set(names[0], k)
                e.set(names[1], v)
            else:
                e.set(names[0], k)
            self.block(body, e)
        return None

    def harness_call(self, st, env):
        txt = [x.text for x in st]
        method = txt[2]
        close = match_close(st, 3)
        args = split_top(st[4:close])
        if method in ("WriteK", "WriteC"):
            path = eval_expr(args[0], env, self)
            content = eval_expr(args[1], env, self)
            hdr = ("\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                   if method == "WriteK" else
                   "\napiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n")
            self.write(os.path.join(path, "kustomization.yaml"), hdr + content)
            return None
        if method == "WriteF":
            self.write(eval_expr(args[0], env, self), eval_expr(args[1], env, self))
            return None
        if method in ("MkDir", "GetFSys", "ErrIfNoHelm", "GetT"):
            if method == "ErrIfNoHelm":
                raise Unsupported("helm")
            return None
        if method in ("Run", "RunWithErr"):
            path = eval_expr(args[0], env, self)
            opts = eval_expr(args[1], env, self) if len(args) > 1 else {"options": "default"}
            return self.run(path, opts, method == "RunWithErr")
        if method in ("AssertActualEqualsExpected", "AssertActualEqualsExpectedNoIdAnnotations"):
            m = eval_expr(args[0], env, self)
            exp = eval_expr(args[1], env, self)
            c = m if isinstance(m, Case) else self.last_case
            if c is None:
                raise Unsupported("assert before run")
            if exp.startswith("\n"):
                exp = exp[1:]
            c.expected = exp
            if method == "AssertActualEqualsExpectedNoIdAnnotations":
                c.expected = None
            return None
        if method == "Reset":
            self.files = {}
            return None
        raise Unsupported("harness method " + method)

    def record_check(self, fname, st, env):
        c = self.last_case
        if c is None or c.expect != "error":
            return
        txt = [x.text for x in st]
        close = match_close(st, txt.index("("))
        args = split_top(st[txt.index("(") + 1:close])
        arg_txt = ["".join(x.text for x in a) for a in args]
        err = self.err_name or "err"
        def val(i):
            return eval_expr(args[i], env, self)
        kind = fname.split(".")[1]
        try:
            if kind in ("Contains",) and arg_txt[1] in (f"{err}.Error()",):
                c.checks.append({"kind": "contains", "value": val(2)})
            elif kind == "ErrorContains":
                c.checks.append({"kind": "contains", "value": val(2)})
            elif kind == "EqualError":
                c.checks.append({"kind": "equals", "value": val(2)})
            elif kind == "Equal" and f"{err}.Error()" in arg_txt:
                i = 1 if arg_txt[2] == f"{err}.Error()" else 2
                c.checks.append({"kind": "equals", "value": val(i)})
            elif kind == "NotContains" and arg_txt[1] == f"{err}.Error()":
                c.checks.append({"kind": "not_contains", "value": val(2)})
            elif kind == "Regexp" and arg_txt[2] == f"{err}.Error()":
                c.checks.append({"kind": "regexp", "value": val(1)})
            elif kind in ("True",) and "strings.Contains" in arg_txt[1]:
                inner = args[1]
                k = [x.text for x in inner].index("(")
                parts = split_top(inner[k + 1:match_close(inner, k)])
                c.checks.append({"kind": "contains", "value": eval_expr(parts[1], env, self)})
        except Unsupported as e:
            c.checks.append({"kind": "unsupported", "value": str(e)})

    def scan_checks(self, st, env):
        # if !strings.Contains(err.Error(), "x") { t.Fatalf }
        txt = [x.text for x in st]
        c = self.last_case
        if c is None or c.expect != "error":
            return
        # if !kusterr.IsMalformedYAMLError(err) { t.Fatalf }: a Go type check.
        if len(txt) > 3 and txt[1] == "!" and "(" in txt:
            name = "".join(txt[2:txt.index("(")])
            if re.fullmatch(r"(\w+\.)?Is\w+Error", name):
                c.checks.append({"kind": "predicate", "value": name})
                return
        if "strings" in txt and "Contains" in txt:
            i = txt.index("Contains")
            if txt[i - 2] != "strings" or txt[i + 1] != "(":
                return
            close = match_close(st, i + 1)
            parts = split_top(st[i + 2:close])
            if len(parts) == 2 and "Error" in [x.text for x in parts[0]]:
                neg = txt[i - 3] == "!"
                try:
                    v = eval_expr(parts[1], env, self)
                except Unsupported as e:
                    c.checks.append({"kind": "unsupported", "value": str(e)})
                    return
                c.checks.append({"kind": "contains" if neg else "not_contains", "value": v})


def top_level(toks):
    """Package-level functions, constants and variables."""
    funcs, decls, tests = {}, [], []
    i = 0
    while i < len(toks):
        t = toks[i]
        if t.text == "func":
            if toks[i + 1].text == "(":  # method
                j = match_close(toks, i + 1) + 1
            else:
                j = i + 1
            name = toks[j].text
            pclose = match_close(toks, j + 1)
            params = []
            for p in split_top(toks[j + 2:pclose]):
                params.append(p[0].text)
            k = pclose + 1
            while toks[k].text != "{":
                k += 1
            end = match_close(toks, k)
            f = Func(params, toks[k + 1:end], None)
            if name.startswith("Test") and params == ["t"]:
                tests.append((name, f))
            else:
                funcs[name] = f
            i = end + 1
        elif t.text in ("const", "var"):
            if toks[i + 1].text == "(":
                end = match_close(toks, i + 1)
                decls.append(toks[i:end + 1])
                i = end + 1
            else:
                j = i + 1
                depth = 0
                while j < len(toks):
                    x = toks[j]
                    if x.text in "([{":
                        depth += 1
                    elif x.text in ")]}":
                        depth -= 1
                    if depth == 0 and j + 1 < len(toks) and toks[j + 1].text in ("func", "const", "var", "type"):
                        break
                    j += 1
                decls.append(toks[i:j + 1])
                i = j + 1
        elif t.text == "type":
            j = i + 2
            while toks[j].text not in ("{", "func") and toks[j].kind != "ident":
                j += 1
            if toks[j].text == "struct" or toks[j].text == "interface":
                j = match_close(toks, j + 1)
            i = j + 1
        else:
            i += 1
    return funcs, decls, tests


def main():
    src, out = sys.argv[1], sys.argv[2]
    skip_dir = None
    if "--skip-existing" in sys.argv:
        skip_dir = sys.argv[sys.argv.index("--skip-existing") + 1]
    existing = set(os.listdir(skip_dir)) if skip_dir else set()
    krusty = os.path.join(src, "api", "krusty")
    KRUSTY_DIR[0] = krusty
    commit = os.popen(f"git -C {src} rev-parse HEAD 2>/dev/null").read().strip()
    if "--commit" in sys.argv:
        commit = sys.argv[sys.argv.index("--commit") + 1]
    files = sorted(f for f in os.listdir(krusty) if f.endswith("_test.go"))
    # Helpers may live in any test file of the package.
    all_funcs, all_decls, per_file = {}, [], {}
    for f in files:
        toks = tokenize(open(os.path.join(krusty, f), encoding="utf-8").read())
        funcs, decls, tests = top_level(toks)
        all_funcs.update(funcs)
        all_decls.extend(decls)
        per_file[f] = tests
    genv = Env()
    boot = Interp(all_funcs, genv)
    for _ in range(3):  # constants may refer to later ones
        for d in all_decls:
            try:
                boot.var_stmt(d, genv)
            except (Unsupported, Exception):
                pass
    for f in all_funcs.values():
        f.env = genv
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)
    stats = {"cases": 0, "tests": 0, "skipped": []}
    genv.set("t", "t")
    for f in files:
        stem = f[:-3]
        text = open(os.path.join(krusty, f), encoding="utf-8").read()
        for name, fn in per_file[f]:
            body_txt = " ".join(x.text for x in fn.body)
            reason = None
            for marker in ("PrepExecPlugin", "BuildGoPlugin", "PrepBuiltin", "ErrIfNoHelm",
                           "helmCharts", "LoadAndRun", "RunTransformer", "fnplugin",
                           "MakeHarnessWithFs", "CreateKustDir", "Setup", "httptest",
                           "localizer", "Parallel"):
                if marker in body_txt and marker not in ("Parallel",):
                    reason = marker
            interp = Interp(all_funcs, genv)
            interp.names = [name]
            if reason is None:
                try:
                    interp.block(fn.body, Env(genv))
                except (Unsupported, ValueError, KeyError, IndexError, AttributeError, TypeError) as e:
                    reason = f"{type(e).__name__}: {e}"
            stats["tests"] += 1
            if reason is None and not interp.cases:
                reason = "no build found"
            if reason is not None:
                stats["skipped"].append(f"{stem}.{name}: {reason}")
                continue
            counts = {}
            for c in interp.cases:
                counts[c.name] = counts.get(c.name, 0) + 1
            seen = {}
            for c in interp.cases:
                seen[c.name] = seen.get(c.name, 0) + 1
                cname = f"{stem}__{c.name}"
                if counts[c.name] > 1:
                    cname += f"__{seen[c.name]}"
                if cname in existing:
                    continue
                if c.options == "plugins":
                    continue
                if any(ch["kind"] == "unsupported" for ch in c.checks):
                    stats["skipped"].append(f"{cname}: an error check could not be read")
                    continue
                d = os.path.join(out, cname)
                os.makedirs(os.path.join(d, "files"))
                for p, content in c.files.items():
                    fp = os.path.join(d, "files", p)
                    os.makedirs(os.path.dirname(fp), exist_ok=True)
                    with open(fp, "w", encoding="utf-8", newline="") as fh:
                        fh.write(content)
                meta = {
                    "build_dir": c.build,
                    "expect": c.expect,
                    "error_checks": c.checks,
                    "load_restrictor": c.restrictor,
                    "reorder": c.reorder,
                    "source": f"api/krusty/{f}",
                    "test": c.name,
                    "commit": commit,
                }
                with open(os.path.join(d, "case.json"), "w") as fh:
                    json.dump(meta, fh, indent=2, sort_keys=True)
                    fh.write("\n")
                if c.expected is not None:
                    with open(os.path.join(d, "expected.yaml"), "w", encoding="utf-8", newline="") as fh:
                        fh.write(c.expected)
                stats["cases"] += 1
    with open(os.path.join(out, "..", "SKIPPED.txt"), "w") as fh:
        fh.write("\n".join(stats["skipped"]) + "\n")
    print(f"{stats['cases']} cases from {stats['tests']} tests; {len(stats['skipped'])} skipped")


if __name__ == "__main__":
    main()
