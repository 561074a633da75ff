# tests/lib.sh - shared by the shell test suites: TAP-like lines and a final
# "N passed, M failed" line. Source it, call check/expect_*, end with finish.
: "${CT_BIN:?CT_BIN must name the ctensors binary}"
PASSED=0
FAILED=0
SKIPPED=0
N=0
TMP=$(mktemp -d "${TMPDIR:-/tmp}/ctensors-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

pass() { N=$((N + 1)); PASSED=$((PASSED + 1)); echo "ok $N - $1"; }
fail() { N=$((N + 1)); FAILED=$((FAILED + 1)); echo "not ok $N - $1${2:+: $2}"; }
skip() { SKIPPED=$((SKIPPED + 1)); echo "skip - $1: $2"; }

# check NAME COMMAND...: passes when the command exits 0
check() {
	name=$1; shift
	if "$@" >"$TMP/out" 2>"$TMP/err"; then pass "$name"
	else fail "$name" "$(head -c 400 "$TMP/err" | tr '\n' ' ')"; fi
}

# run_cli STATUS COMMAND...: runs ctensors, keeps stdout/stderr in
# $TMP/out and $TMP/err, and compares the exit status
run_cli() {
	want=$1; shift
	"$CT_BIN" "$@" >"$TMP/out" 2>"$TMP/err"
	got=$?
	[ "$got" = "$want" ] || { echo "  exit status $got, expected $want" >"$TMP/why"; return 1; }
	return 0
}

# expect NAME STATUS STDERR_SUBSTRING COMMAND-ARGS...: ctensors exits with
# STATUS and its stderr holds the substring (empty: stderr must be empty
# for status 0, anything otherwise)
expect() {
	name=$1; want=$2; sub=$3; shift 3
	if ! run_cli "$want" "$@"; then
		fail "$name" "$(cat "$TMP/why"); stderr: $(head -c 300 "$TMP/err" | tr '\n' ' ')"
		return
	fi
	if [ -n "$sub" ] && ! grep -qF -- "$sub" "$TMP/err"; then
		fail "$name" "stderr lacks '$sub': $(head -c 300 "$TMP/err" | tr '\n' ' ')"
		return
	fi
	if [ "$want" != 0 ] && [ "$(wc -l <"$TMP/err")" -ne 1 ]; then
		fail "$name" "expected exactly one line on stderr, got $(wc -l <"$TMP/err")"
		return
	fi
	if [ "$want" != 0 ] && ! head -n 1 "$TMP/err" | grep -q '^ctensors: '; then
		fail "$name" "stderr does not start with 'ctensors: '"
		return
	fi
	pass "$name"
}

finish() {
	echo "$PASSED passed, $FAILED failed${SKIPPED:+, $SKIPPED skipped}"
	[ "$FAILED" = 0 ]
}
