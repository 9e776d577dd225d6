#!/usr/bin/env bash
# Compiles contracts/*.sol with the solc pinned in package.json into contracts/artifacts/.
#   contracts/build.sh          rewrite the committed artifacts
#   contracts/build.sh --check  recompile into a temporary directory and fail if the committed
#                               artifacts differ (CI)
# Needs `npm ci` at the repository root once; never touches the network.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
artifacts="$here/artifacts"

case "${1:-}" in
  "")
    fresh="$(mktemp -d)"
    trap 'rm -rf "$fresh"' EXIT
    node "$here/compile.js" "$fresh"
    rm -rf "$artifacts"
    mkdir -p "$artifacts"
    cp "$fresh"/*.json "$artifacts/"
    echo "contracts/artifacts: $(ls "$artifacts" | wc -l) artifacts written"
    ;;
  --check)
    fresh="$(mktemp -d)"
    trap 'rm -rf "$fresh"' EXIT
    node "$here/compile.js" "$fresh"
    if ! diff -r "$artifacts" "$fresh" >/dev/null 2>&1; then
      echo "contracts/artifacts is stale: it differs from what contracts/*.sol compiles to." >&2
      diff -rq "$artifacts" "$fresh" >&2 || true
      echo "Run contracts/build.sh and commit contracts/artifacts." >&2
      exit 1
    fi
    echo "contracts/artifacts is up to date"
    ;;
  *)
    echo "usage: contracts/build.sh [--check]" >&2
    exit 2
    ;;
esac
