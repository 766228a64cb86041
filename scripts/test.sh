#!/usr/bin/env bash
# `npm test`: driver check, generated shaders up to date, types, lint/format, then every test file
# in both vitest projects (node: Dawn; browser: headless Chromium). Stops at the first failure.
# Arguments go to vitest (`npm test -- test/kernels.test.ts`).
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

# With arguments (`npm test -- test/x.test.ts`), one vitest run of what they select.
if [ "$#" -gt 0 ]; then
  step "tests (vitest run $*)"
  npx vitest run "$@"
  exit
fi

# Stages, each faster alone than beside the others on a 2-core machine: SwiftShader runs every
# process's GPU work on CPU threads, and two runtimes side by side slow each other several times
# over (measured: the soak takes 10 s alone and 60 s beside other files; all in one vitest run took
# 4 min 57 s, these stages 4 min 6 s). One exception: the paper pipeline test runs beside the
# Chromium stage, which leaves CPU idle (measured 2026-12-05: 146 s for both side by side against
# about 170 s one after the other); its output is printed when both are done.
LONG=(test/soak.node.test.ts test/paper.node.test.ts)

step 'tests in Node (vitest --project node, Dawn), the two long ones left for the end'
npx vitest run --project node --exclude "${LONG[0]}" --exclude "${LONG[1]}"

step 'tests in headless Chromium (vitest --project browser), the paper pipeline beside them (vitest --project node)'
paper_log=$(mktemp)
npx vitest run --project node "${LONG[1]}" >"$paper_log" 2>&1 &
paper_pid=$!
browser_rc=0
npx vitest run --project browser || browser_rc=$?
paper_rc=0
wait "$paper_pid" || paper_rc=$?

step "the paper pipeline (${LONG[1]}, run beside the Chromium tests)"
cat "$paper_log"
rm -f "$paper_log"
if [ "$browser_rc" -ne 0 ] || [ "$paper_rc" -ne 0 ]; then
  echo "failed: Chromium tests exit $browser_rc, paper pipeline exit $paper_rc" >&2
  exit 1
fi

step 'the soak, alone (vitest --project node)'
npx vitest run --project node "${LONG[0]}"
