"""The kustomize oracle for Gantry's render tests: pykustomize (kustomize v5.8's Go API,
in-process). Reads one job a line on stdin, tab separated:

    BUILD_DIR  OUT_PREFIX  [REORDER]  [LOAD_RESTRICTOR]

REORDER is `unspecified` (the CLI default: legacy order unless the kustomization sets
`sortOptions`), `legacy` or `none`; LOAD_RESTRICTOR is `RootOnly` (the default) or `None`. It
writes OUT_PREFIX.yaml with the output, or OUT_PREFIX.err with kustomize's error.

There is no fallback: without pykustomize the tests must fail, not quietly compare against
something else. Exit status 3 says pykustomize is missing.
"""
import asyncio
import sys


def main() -> int:
    try:
        from pykustomize import BuildOptions, Kustomizer, LoadRestrictions, ReorderOption
    except ImportError as e:
        print(f"pykustomize is not installed ({e}); run `. scripts/tools.sh`", file=sys.stderr)
        return 3
    jobs = [line.rstrip("\n").split("\t") for line in sys.stdin if line.strip()]
    k = Kustomizer()
    reorders = {
        "unspecified": ReorderOption.UNSPECIFIED,
        "legacy": ReorderOption.LEGACY,
        "none": ReorderOption.NONE,
    }
    restrictors = {"RootOnly": LoadRestrictions.ROOT_ONLY, "None": LoadRestrictions.NONE}

    async def run() -> None:
        for job in jobs:
            build_dir, out = job[0], job[1]
            opts = BuildOptions(
                reorder=reorders[job[2] if len(job) > 2 else "unspecified"],
                load_restrictions=restrictors[job[3] if len(job) > 3 else "RootOnly"],
            )
            try:
                res = await k.build(build_dir, opts)
                with open(out + ".yaml", "w", encoding="utf-8", newline="") as f:
                    f.write(res.yaml)
            except Exception as e:  # noqa: BLE001 - every failure is a result
                with open(out + ".err", "w", encoding="utf-8") as f:
                    f.write(str(e))

    asyncio.run(run())
    print("oracle: pykustomize", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
