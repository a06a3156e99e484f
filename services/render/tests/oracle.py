"""The kustomize oracle for Gantry's differential test: builds each directory named on stdin
with pykustomize (kustomize's Go API, default CLI ordering) and writes `oracle.yaml` or
`oracle.err` beside it. Falls back to `kubectl kustomize` when pykustomize is missing."""
import asyncio
import os
import shutil
import subprocess
import sys

def main() -> int:
    dirs = [line.strip() for line in sys.stdin if line.strip()]
    try:
        from pykustomize import Kustomizer
        k = Kustomizer()

        async def run() -> None:
            for d in dirs:
                try:
                    res = await k.build(d)
                    open(os.path.join(d, "oracle.yaml"), "w").write(res.yaml)
                except Exception as e:  # noqa: BLE001 - every failure is a result
                    open(os.path.join(d, "oracle.err"), "w").write(str(e))

        asyncio.run(run())
        return 0
    except ImportError:
        kubectl = shutil.which("kubectl")
        if not kubectl:
            print("neither pykustomize nor kubectl is available", file=sys.stderr)
            return 2
        for d in dirs:
            p = subprocess.run([kubectl, "kustomize", d], capture_output=True, text=True)
            name = "oracle.yaml" if p.returncode == 0 else "oracle.err"
            open(os.path.join(d, name), "w").write(p.stdout if p.returncode == 0 else p.stderr)
        return 0

if __name__ == "__main__":
    sys.exit(main())
