"""Prints docs/engines.md's matrix from the `# matrix ENGINE|PROFILE|FEATURE|RESULT` lines the
engine tests print: `ctest -L engines -V | python3 tests/engines/matrix.py` (or log files as
arguments). One table per engine: a row per feature, a column per profile."""
import sys


def main():
    src = [open(p, encoding="utf-8", errors="replace") for p in sys.argv[1:]] or [sys.stdin]
    cells, engines = {}, []
    for f in src:
        for line in f:
            i = line.find("# matrix ")
            if i < 0:
                continue
            parts = line[i + 9:].rstrip("\n").split("|", 3)
            if len(parts) != 4:
                continue
            eng, prof, feat, res = parts
            if eng not in engines:
                engines.append(eng)
            cells.setdefault(eng, {})[(prof, feat)] = res.replace("|", "/")
    for eng in engines:
        c = cells[eng]
        profs = [p for p in ("compat", "modern") if any(k[0] == p for k in c)]
        feats = []
        for (p, f) in c:
            if f not in feats:
                feats.append(f)
        print(f"**{eng}**\n")
        print("| feature | " + " | ".join(profs or ["-"]) + " |")
        print("|---|" + "---|" * max(1, len(profs)))
        for f in feats:
            row = [c.get((p, f), c.get(("-", f), "")) for p in (profs or ["-"])]
            print(f"| {f} | " + " | ".join(row) + " |")
        print()


if __name__ == "__main__":
    main()
