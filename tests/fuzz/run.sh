#!/bin/sh
# run.sh - run the libFuzzer targets, then every saved regression input.
#
#   tests/fuzz/run.sh SECONDS [TARGET...]
#
# Builds nothing: the binaries come from `make fuzz` (build/fuzz/fuzz_*, or
# $FUZZ_BIN_DIR). TARGETs are names like fuzz_decode (default: every
# tests/fuzz/fuzz_*.c). For each target:
#   1. fuzz for SECONDS (0 skips this step) with
#      -max_total_time=SECONDS -timeout=10 -rss_limit_mb=2048, starting from
#      a scratch corpus directory (where libFuzzer writes what it finds) and
#      the committed seeds tests/fuzz/corpus/TARGET (only read), with
#      tests/fuzz/TARGET.dict when it exists; crash inputs are kept under
#      build/fuzz/artifacts/TARGET/ (or $FUZZ_ARTIFACTS/TARGET/);
#   2. run each file of tests/fuzz/regressions/TARGET/ once.
# Prints one "ok"/"not ok" line per step, then "N passed, M failed"; exits 1
# when anything failed (a crash, a leak, a timeout, a missing binary).
# $FUZZ_ARGS adds libFuzzer options to step 1 (e.g. -use_value_profile=1).

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bindir=${FUZZ_BIN_DIR:-$root/build/fuzz}
artifacts=${FUZZ_ARTIFACTS:-$root/build/fuzz/artifacts}

usage() {
	echo "usage: $0 SECONDS [TARGET...]" >&2
	exit 2
}
[ $# -ge 1 ] || usage
seconds=$1
shift
case $seconds in '' | *[!0-9]*) usage ;; esac

if [ $# -eq 0 ]; then
	for src in "$here"/fuzz_*.c; do
		[ -e "$src" ] || continue
		name=$(basename "$src" .c)
		set -- "$@" "$name"
	done
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ct-fuzz.XXXXXX") || exit 2
# The targets' own scratch files (fuzz_checkpoint writes model directories),
# in memory when possible; a crashing target cannot clean up after itself.
scratch=$(mktemp -d /dev/shm/ct-fuzz.XXXXXX 2>/dev/null) || scratch=$tmp/scratch
mkdir -p "$scratch" || exit 2
trap 'rm -rf "$tmp" "$scratch"' EXIT
TMPDIR=$scratch
export TMPDIR
trap 'exit 130' INT TERM

# A hung target must not hang the run: libFuzzer's own -max_total_time and
# -timeout normally stop it; this is the backstop.
if command -v timeout >/dev/null 2>&1; then
	guard() { g=$1; shift; timeout -k 10 "$g" "$@"; }
else
	guard() { shift; "$@"; }
fi

passed=0
failed=0
ok() {
	passed=$((passed + 1))
	echo "ok - $*"
}
not_ok() {
	failed=$((failed + 1))
	echo "not ok - $*"
}
# Shows the end of a log (the sanitizer report) as comments.
show_log() {
	tail -n "${2:-40}" "$1" | sed 's/^/#   /'
}

for target in "$@"; do
	bin=$bindir/$target
	if [ ! -x "$bin" ]; then
		not_ok "$target: $bin is not built (make fuzz)"
		continue
	fi

	if [ "$seconds" -gt 0 ]; then
		work=$tmp/$target
		mkdir -p "$work/corpus" "$artifacts/$target" || exit 2
		seeds=$here/corpus/$target
		set --
		[ -d "$seeds" ] && set -- "$seeds"
		dict=
		[ -f "$here/$target.dict" ] && dict=-dict=$here/$target.dict
		log=$work/log
		# shellcheck disable=SC2086 # FUZZ_ARGS and dict are word lists
		guard $((seconds + 120)) "$bin" -max_total_time="$seconds" -timeout=10 \
			-rss_limit_mb=2048 -print_final_stats=1 \
			-artifact_prefix="$artifacts/$target/" $dict ${FUZZ_ARGS:-} \
			"$work/corpus" "$@" >"$log" 2>&1
		status=$?
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
		last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
		cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
		ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
		found=$(find "$work/corpus" -type f | wc -l | tr -d ' ')
		summary="${runs:-?} runs in ${seconds}s, cov ${cov:-?}, ft ${ft:-?}, $found new corpus inputs"
		if [ "$status" -eq 0 ]; then
			ok "$target: fuzzing: $summary"
		else
			not_ok "$target: fuzzing: exit status $status after $summary"
			show_log "$log"
			crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
			[ -n "$crash" ] && echo "#   input saved as $crash"
		fi
	fi

	regdir=$here/regressions/$target
	[ -d "$regdir" ] || continue
	for input in "$regdir"/*; do
		[ -f "$input" ] || continue
		log=$tmp/regression.log
		if guard 120 "$bin" -timeout=10 -rss_limit_mb=2048 "$input" >"$log" 2>&1; then
			ok "$target: regression $(basename "$input")"
		else
			not_ok "$target: regression $(basename "$input")"
			show_log "$log" 25
		fi
	done
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
