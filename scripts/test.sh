#!/usr/bin/env bash
# `npm test`: driver check, generated shaders up to date, types, lint/format, then every test file
# in both vitest projects (node: Dawn; browser: headless Chromium). Stops at the first failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() {
  printf '\n== %s\n' "$*"
}

step 'GPU driver (scripts/ensure-gpu-driver.sh)'
bash scripts/ensure-gpu-driver.sh
echo ok

step 'generated shaders are current (scripts/gen-shaders.ts --check)'
npx tsx scripts/gen-shaders.ts --check
echo ok

step 'types (tsc --noEmit)'
npx tsc --noEmit -p .
echo ok

step 'lint and format (biome check)'
npx biome check .

step 'tests, node and browser (vitest run)'
npx vitest run "$@"
