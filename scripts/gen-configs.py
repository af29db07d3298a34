#!/usr/bin/env python3
"""Writes src/config/described.rs: Redis 7.0's configuration parameters as its config.c
declares them in `static_configs` (name, alias, flags, type, bounds, enum names and default),
so that CONFIG GET/SET and the config file know every parameter redis-server knows, with its
defaults, ranges and error texts. The TLS block is included: Debian's redis-server is built
with TLS, and its CONFIG GET * lists those parameters. Run from the repository root:

    python3 scripts/gen-configs.py /path/to/redis-7.0.15 > src/config/described.rs
"""
import glob
import os
import re
import sys

FLAG_NAMES = ["IMMUTABLE_CONFIG", "SENSITIVE_CONFIG", "DEBUG_CONFIG", "MULTI_ARG_CONFIG",
              "HIDDEN_CONFIG", "PROTECTED_CONFIG", "DENY_LOADING_CONFIG", "VOLATILE_CONFIG"]
LIMITS = {
    "INT_MIN": -(2**31), "INT_MAX": 2**31 - 1, "UINT_MAX": 2**32 - 1,
    "LONG_MAX": 2**63 - 1, "LLONG_MAX": 2**63 - 1, "ULLONG_MAX": 2**64 - 1,
    "SSIZE_MAX": 2**63 - 1, "SIZE_MAX": 2**64 - 1,
}
NUMERIC = {
    "createIntConfig": "Int", "createUIntConfig": "UInt", "createLongConfig": "Long",
    "createULongConfig": "ULong", "createLongLongConfig": "LongLong",
    "createULongLongConfig": "ULongLong", "createSizeTConfig": "SizeT",
    "createSSizeTConfig": "SSizeT", "createTimeTConfig": "TimeT", "createOffTConfig": "OffT",
}


def split_args(s):
    """Splits a C argument list at top-level commas."""
    out, depth, cur, quote = [], 0, "", False
    for i, ch in enumerate(s):
        if quote:
            cur += ch
            if ch == '"' and s[i - 1] != "\\":
                quote = False
            continue
        if ch == '"':
            quote = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
            continue
        cur += ch
    out.append(cur.strip())
    return out


def rust_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def main(root):
    src = os.path.join(root, "src")
    config_c = open(os.path.join(src, "config.c")).read()
    defines = {}
    for h in sorted(glob.glob(os.path.join(src, "*.h"))) + [os.path.join(src, "config.c")]:
        for m in re.finditer(r"^#define\s+(\w+)\s+(.+?)\s*(?:/\*.*)?$", open(h).read(), re.M):
            defines.setdefault(m.group(1), m.group(2).strip())

    def value(expr, depth=0):
        """Evaluates a C integer expression made of literals, limits and #defines."""
        expr = expr.strip()
        if expr in LIMITS:
            return LIMITS[expr]
        tokens = re.findall(r"[A-Za-z_]\w*", expr)
        for t in tokens:
            if t in LIMITS:
                expr = re.sub(r"\b%s\b" % t, str(LIMITS[t]), expr)
            elif t in defines and depth < 8:
                v = value(defines[t], depth + 1)
                if v is None:
                    return None
                expr = re.sub(r"\b%s\b" % t, str(v), expr)
        expr = re.sub(r"(\d+)(?:ll|LL|ULL|ull|UL|ul|L|l|U|u)\b", r"\1", expr)
        if re.search(r"[A-Za-z_]", expr):
            return None
        if re.fullmatch(r"\s*0[0-7]+\s*", expr):
            return int(expr, 8)
        try:
            return int(eval(expr.replace("/", "//"), {}, {}))
        except Exception:
            return None

    # The enum tables: names and values (a token that is no #define gets its own number).
    enums = {}
    fresh = [1000]
    for m in re.finditer(r"^configEnum (\w+)\[\] = \{(.*?)^\};", config_c, re.M | re.S):
        opts = []
        for e in re.finditer(r'\{"([^"]+)",\s*([^}]+?)\s*\}', m.group(2)):
            tok = e.group(2)
            v = value(tok)
            if v is None:
                prev = [o for o in opts if o[2] == tok]
                if prev:
                    v = prev[0][1]
                else:
                    fresh[0] += 1
                    v = fresh[0]
            opts.append((e.group(1), v, tok))
        enums[m.group(1)] = opts

    body = config_c[config_c.index("standardConfig static_configs[] = {"):]
    body = body[:body.index("{NULL}")]
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    rows = []
    for m in re.finditer(r"(create\w+Config)\((.*?)\),?\s*$", body, re.M):
        fn, args = m.group(1), split_args(m.group(2))
        name = args[0].strip('"')
        alias = None if args[1] == "NULL" else args[1].strip('"')
        flags = [f.strip() for f in args[2].split("|")]
        fl = " | ".join(f for f in flags if f in FLAG_NAMES) or "0"
        if fn == "createBoolConfig":
            ty = "Type::Bool { default: %s }" % ("true" if args[4] == "1" else "false")
        elif fn in ("createStringConfig", "createSDSConfig"):
            d = args[5]
            if d == "NULL":
                default = "None"
            elif d.startswith('"'):
                default = "Some(%s)" % d
            else:
                default = "Some(%s)" % defines[d]
            ty = "Type::Str { default: %s, empty_is_null: %s }" % (
                default, "true" if args[3] == "EMPTY_STRING_IS_NULL" else "false")
        elif fn == "createEnumConfig":
            opts = enums[args[3]]
            d = args[5]
            dv = value(d)
            if dv is None:
                dv = [o[1] for o in opts if o[2] == d][0]
            ty = "Type::Enum { options: &[%s], default: %d }" % (
                ", ".join("(%s, %d)" % (rust_str(n), v) for n, v, _ in opts), dv)
        elif fn in NUMERIC:
            lo, hi, d = value(args[3]), value(args[4]), value(args[6])
            nflags = args[7]
            ty = ("Type::Numeric { ty: Num::%s, min: %d, max: %d, default: %d, memory: %s, "
                  "percent: %s, octal: %s }") % (
                NUMERIC[fn], lo, hi, d,
                "true" if "MEMORY_CONFIG" in nflags else "false",
                "true" if "PERCENT_CONFIG" in nflags else "false",
                "true" if "OCTAL_CONFIG" in nflags else "false")
        elif fn == "createSpecialConfig":
            ty = "Type::Special"
        else:
            raise SystemExit("unknown config constructor " + fn)
        rows.append("    Described { name: %s, alias: %s, flags: %s, ty: %s },"
                    % (rust_str(name), "None" if alias is None else "Some(%s)" % rust_str(alias),
                       fl, ty))

    print("// @generated by scripts/gen-configs.py from Redis 7.0's src/config.c; do not edit.")
    print("//! Every configuration parameter of Redis 7.0, as its `static_configs` declares it.")
    print()
    print("#[allow(unused_imports)]")
    print("use super::table::{")
    print("    Described, Num, Type, DEBUG_CONFIG, DENY_LOADING_CONFIG, HIDDEN_CONFIG, IMMUTABLE_CONFIG,")
    print("    MULTI_ARG_CONFIG, PROTECTED_CONFIG, SENSITIVE_CONFIG, VOLATILE_CONFIG,")
    print("};")
    print()
    print("#[rustfmt::skip]")
    print("pub static CONFIGS: &[Described] = &[")
    for r in rows:
        print(r)
    print("];")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../redis-7.0.15")
