#!/bin/sh
# tests/run.sh - every test tier against one build: unit tests (cmocka), CLI
# end-to-end, golden cases, malformed-input corpus. Called by `make check`.
cd "$(dirname "$0")/.." || exit 2
status=0
for t in $CT_UNIT; do
	echo "== unit: $(basename "$t")"
	"$t" || status=1
done
for s in tests/cli.sh tests/matching.sh tests/inspect.sh tests/verify.sh tests/gate.sh tests/serving.sh tests/faults.sh tests/safety.sh \
	 tests/recipe.sh tests/pipeline.sh tests/wild.sh tests/convert.sh tests/convert_mxfp4.sh tests/moe.sh tests/moe_heldout.sh tests/parts.sh tests/golden.sh tests/malformed.sh \
	 tests/man.sh tests/completion.sh; do
	[ -f "$s" ] || continue
	echo "== $s"
	sh "$s" || status=1
done
exit $status
