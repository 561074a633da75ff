#!/bin/sh
# malformed.sh - `ctensors inspect` against a corpus of hostile safetensors files.
#
#   CT_BIN=path/to/ctensors CT_TOOLS=build/tools sh tests/malformed.sh
#
# $CT_TOOLS/gen_malformed writes the corpus; tests/malformed/expected.txt holds
# one "FILE<TAB>SUBSTRING" line per case. A malformed file must give exit
# status 3, nothing on stdout, and exactly one line on stderr that starts with
# "ctensors: " and contains the file's path and SUBSTRING. A valid_* file
# (SUBSTRING "OK") must give exit status 0. Every run is capped at 10 s so a
# hang fails the case instead of the suite.

: "${CT_BIN:?set CT_BIN to the ctensors binary}"
: "${CT_TOOLS:?set CT_TOOLS to the directory of the built test tools}"

here=$(cd "$(dirname "$0")" && pwd)
expected="$here/malformed/expected.txt"
[ -r "$expected" ] || { echo "malformed.sh: cannot read $expected" >&2; exit 2; }
[ -x "$CT_BIN" ] || { echo "malformed.sh: $CT_BIN is not executable" >&2; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ct-malformed.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
corpus="$tmp/corpus"
out="$tmp/stdout"
err="$tmp/stderr"

if ! "$CT_TOOLS/gen_malformed" "$corpus" >/dev/null; then
	echo "malformed.sh: $CT_TOOLS/gen_malformed failed" >&2
	exit 2
fi

# timeout(1) is not POSIX; without it a hang hangs the suite, but still runs.
if command -v timeout >/dev/null 2>&1; then
	run() { timeout 10 "$@"; }
else
	run() { "$@"; }
fi

tab=$(printf '\t')
n=0
passed=0
failed=0

ok() {
	passed=$((passed + 1))
	echo "ok $n - $1"
}

not_ok() {
	failed=$((failed + 1))
	echo "not ok $n - $1: $2"
}

# First 200 bytes of stderr on one line, control characters dropped, for
# failure reports.
show_err() {
	head -c 200 "$err" | tr -d '\000-\037'
}

# Why the run in $out/$err with status $1 breaks the contract for a malformed
# file $2 with expected substring $3; empty when it does not.
check_malformed() {
	rc=$1 file=$2 sub=$3
	case $rc in
	3) ;;
	124) echo "timed out after 10 s"; return ;;
	*)
		if [ "$rc" -gt 128 ]; then
			echo "killed by signal $((rc - 128)); stderr: $(show_err)"
		else
			echo "exit status $rc, expected 3; stderr: $(show_err)"
		fi
		return ;;
	esac
	if [ -s "$out" ]; then
		echo "stdout is not empty: $(head -c 100 "$out" | tr -d '\000-\037')"
		return
	fi
	lines=$(wc -l <"$err" | tr -d ' ')
	last=$(tail -c 1 "$err" | od -An -tx1 | tr -d ' \n')
	if [ "$lines" != 1 ] || [ "$last" != 0a ]; then
		echo "stderr is not exactly one line ($lines newlines): $(show_err)"
		return
	fi
	line=$(cat "$err")
	case $line in
	"ctensors: "*) ;;
	*) echo "stderr does not start with 'ctensors: ': $(show_err)"; return ;;
	esac
	case $line in
	*"$file"*) ;;
	*) echo "stderr does not name the file: $(show_err)"; return ;;
	esac
	case $line in
	*"$sub"*) ;;
	*) echo "stderr lacks '$sub': $(show_err)"; return ;;
	esac
}

listed="$tmp/listed"
: >"$listed"
while IFS="$tab" read -r name sub || [ -n "$name" ]; do
	case $name in
	'' | '#'*) continue ;;
	esac
	n=$((n + 1))
	echo "$name" >>"$listed"
	file="$corpus/$name"
	if [ ! -f "$file" ]; then
		not_ok "$name" "gen_malformed did not write it"
		continue
	fi
	run "$CT_BIN" inspect "$file" >"$out" 2>"$err" </dev/null
	rc=$?
	case $name in
	valid_*)
		if [ "$rc" = 0 ]; then
			ok "$name"
		elif [ "$rc" = 124 ]; then
			not_ok "$name" "timed out after 10 s"
		else
			not_ok "$name" "exit status $rc, expected 0; stderr: $(show_err)"
		fi
		;;
	*)
		why=$(check_malformed "$rc" "$file" "$sub")
		if [ -z "$why" ]; then
			ok "$name"
		else
			not_ok "$name" "$why"
		fi
		;;
	esac
done <"$expected"

# A case the generator writes but expected.txt forgets would go untested.
for file in "$corpus"/*; do
	[ -e "$file" ] || continue
	name=${file##*/}
	if ! grep -Fqx -- "$name" "$listed"; then
		n=$((n + 1))
		not_ok "$name" "written by gen_malformed but not listed in expected.txt"
	fi
done

if [ "$n" = 0 ]; then
	n=1
	not_ok "expected.txt" "no cases"
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
