#!/bin/sh
# tests/completion.sh - `ctensors completion bash|zsh|fish`: each script is
# produced and parses; in bash, TAB completes commands, options, option
# values, files and command names from the same tables the CLI parses.
. "$(dirname "$0")/lib.sh"

# ---- the command ------------------------------------------------------------
expect "completion needs a shell" 2 "expected one shell" completion
expect "completion of an unknown shell" 2 "'tcsh' is not a supported shell" completion tcsh
expect "completion takes one shell" 2 "expected one shell" completion bash zsh
expect "completion --help" 0 "" completion --help
grep -q '^usage: ctensors completion ' "$TMP/out" && pass "completion --help shows its usage" ||
	fail "completion --help shows its usage"
if [ -w /dev/full ]; then
	"$CT_BIN" completion bash >/dev/full 2>"$TMP/err"
	st=$?
	[ "$st" = 4 ] && grep -q '^ctensors: ' "$TMP/err" && pass "a write error is exit status 4" ||
		fail "a write error is exit status 4" "status $st: $(head -c 200 "$TMP/err")"
else
	skip "a write error is exit status 4" "no /dev/full"
fi

for sh in bash zsh fish; do
	if "$CT_BIN" completion "$sh" >"$TMP/ctensors.$sh" 2>"$TMP/err" && [ -s "$TMP/ctensors.$sh" ] &&
		[ ! -s "$TMP/err" ]; then
		pass "completion $sh prints a script and nothing on stderr"
	else
		fail "completion $sh prints a script and nothing on stderr" "$(head -c 300 "$TMP/err" | tr '\n' ' ')"
	fi
done
grep -qx 'complete -F _ctensors ctensors' "$TMP/ctensors.bash" && pass "bash: registers _ctensors" ||
	fail "bash: registers _ctensors"
[ "$(head -n 1 "$TMP/ctensors.zsh")" = "#compdef ctensors" ] && grep -q '_arguments' "$TMP/ctensors.zsh" &&
	pass "zsh: a #compdef script using _arguments" || fail "zsh: a #compdef script using _arguments"
grep -q '^complete -c ctensors ' "$TMP/ctensors.fish" && pass "fish: complete -c ctensors lines" ||
	fail "fish: complete -c ctensors lines"
"$CT_BIN" completion bash >"$TMP/again.bash" 2>/dev/null && cmp -s "$TMP/ctensors.bash" "$TMP/again.bash" &&
	pass "the script is the same on every run" || fail "the script is the same on every run"

# Every command and long option of 'ctensors help' is in every script.
"$CT_BIN" help >"$TMP/help" 2>/dev/null
commands=$(awk '/^commands:/ { on = 1; next } on && /^$/ { exit } on && /^  [a-z]/ { print $1 }' "$TMP/help")
[ -n "$commands" ] && pass "ctensors help lists commands" || fail "ctensors help lists commands"
: >"$TMP/longopts"
for c in $commands; do
	"$CT_BIN" help "$c" | awk -v c="$c" '/^options:/ { on = 1; next }
		on { for (i = 1; i <= 2; i++) if ($i ~ /^--[a-z0-9-]+$/) { print c, $i; break } }' >>"$TMP/longopts"
done
for sh in zsh fish; do
	missing=
	while read -r c opt; do
		case $sh in
		zsh) grep -qF -- "$opt" "$TMP/ctensors.zsh" ;;
		fish) grep -q -- "__ctensors_using_command $c'\( -s .\)\{0,1\} -l '${opt#--}'" "$TMP/ctensors.fish" ;;
		esac || missing="$missing $c:$opt"
	done <"$TMP/longopts"
	for c in $commands; do
		grep -qF -- "$c" "$TMP/ctensors.$sh" || missing="$missing $c"
	done
	[ -z "$missing" ] && pass "$sh: every command and option of ctensors help is in the script" ||
		fail "$sh: every command and option of ctensors help is in the script" "missing:$missing"
done

# ---- each shell parses its script -------------------------------------------
if command -v bash >/dev/null 2>&1; then
	bash -n "$TMP/ctensors.bash" 2>"$TMP/err" && pass "bash -n accepts the bash script" ||
		fail "bash -n accepts the bash script" "$(head -c 300 "$TMP/err" | tr '\n' ' ')"
else
	skip "bash -n" "bash is not installed"
fi
if command -v zsh >/dev/null 2>&1; then
	zsh -n "$TMP/ctensors.zsh" 2>"$TMP/err" && pass "zsh -n accepts the zsh script" ||
		fail "zsh -n accepts the zsh script" "$(head -c 300 "$TMP/err" | tr '\n' ' ')"
else
	skip "zsh -n accepts the zsh script" "zsh is not installed"
fi
if command -v fish >/dev/null 2>&1; then
	fish -n "$TMP/ctensors.fish" 2>"$TMP/err" && pass "fish -n accepts the fish script" ||
		fail "fish -n accepts the fish script" "$(head -c 300 "$TMP/err" | tr '\n' ' ')"
else
	skip "fish -n accepts the fish script" "fish is not installed"
fi

# ---- bash: what TAB offers ------------------------------------------------------
if ! command -v bash >/dev/null 2>&1; then
	skip "bash completion behaviour" "bash is not installed"
	finish
	exit
fi
mkdir -p "$TMP/files/model dir" && : >"$TMP/files/recipe.json" && : >"$TMP/files/model.safetensors"

# The harness: `comp WORD...` completes the last WORD (COMP_WORDBREAKS
# splitting at '=' is done by the caller, as readline does); `want NAME
# MODE WORD...` compares COMPREPLY with the words: "all" = exactly these,
# "has" = at least these. It prints "ok NAME" or "not ok NAME: details".
cat >"$TMP/harness.bash" <<'EOF'
source "$1" || { echo "not ok source: the script does not load"; exit 1; }
comp() {
	COMP_WORDS=("$@")
	COMP_CWORD=$(($# - 1))
	COMP_LINE="$*"
	COMP_POINT=${#COMP_LINE}
	COMPREPLY=()
	_ctensors ctensors "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
}
want() {
	local name=$1 mode=$2 w r found
	shift 2
	for w in "$@"; do
		found=
		for r in "${COMPREPLY[@]}"; do
			[[ $r == "$w" ]] && found=1
		done
		[[ -n $found ]] || { echo "not ok $name: '$w' not offered (got: ${COMPREPLY[*]})"; return; }
	done
	if [[ $mode == all && ${#COMPREPLY[@]} -ne $# ]]; then
		echo "not ok $name: offered ${#COMPREPLY[@]} words, expected $# (got: ${COMPREPLY[*]})"
		return
	fi
	echo "ok $name"
}
T=$2

complete -p ctensors 2>&1 | grep -q -- '-F _ctensors' && echo "ok complete -p ctensors names _ctensors" ||
	echo "not ok complete -p ctensors names _ctensors: $(complete -p ctensors 2>&1)"

comp ctensors ''
want "ctensors <TAB> offers the commands" has inspect quantize decompress verify help compress completion
comp ctensors qu
want "ctensors qu<TAB> -> quantize" all quantize
comp ctensors --v
want "ctensors --v<TAB> -> --version" all --version
comp ctensors quantize --sch
want "quantize --sch<TAB> -> --scheme" all --scheme
comp ctensors quantize -s ''
want "quantize -s <TAB> offers the schemes" has W4A16 NVFP4A16
comp ctensors quantize --scheme NV
want "quantize --scheme NV<TAB> -> NVFP4A16" all NVFP4A16
comp ctensors quantize --scheme = NV
want "quantize --scheme=NV<TAB> (split at =) -> NVFP4A16" all NVFP4A16
comp ctensors quantize --scheme =
want "quantize --scheme=<TAB> offers the schemes" has W4A16 NVFP4A16
comp ctensors quantize --scheme=NV
want "quantize --scheme=NV<TAB> (one word) -> --scheme=NVFP4A16" all --scheme=NVFP4A16
comp ctensors decompress --dtype ''
want "decompress --dtype <TAB> offers bf16 f16 f32" all bf16 f16 f32
comp ctensors compress -F ''
want "compress -F <TAB> offers the sparse formats" all sparse-bitmask sparse-24-bitmask
comp ctensors verify --ag
want "verify --ag<TAB> -> --against" all --against
comp ctensors verify --min-snr-db ''
want "verify --min-snr-db <TAB> offers nothing" all
comp ctensors inspect -
want "inspect -<TAB> offers its options" all --json --tensors --stats --tensor -h --help
comp ctensors help ''
want "help <TAB> offers the commands" has inspect quantize compress decompress verify completion help
comp ctensors help quantize ''
want "help quantize <TAB> offers nothing" all
comp ctensors completion ''
want "completion <TAB> offers the shells" all bash zsh fish
comp ctensors quantize -c "$T/files/rec"
want "quantize -c <TAB> completes a file" all "$T/files/recipe.json"
comp ctensors quantize -s W4A16 "$T/files/mo"
want "quantize INPUT<TAB> completes files and directories" all "$T/files/model dir" "$T/files/model.safetensors"
comp ctensors quantize -s W4A16 -j 4 in "$T/files/model."
want "quantize OUTPUT<TAB> after options and INPUT completes files" all "$T/files/model.safetensors"
comp ctensors verify --against "$T/files/model" "$T/files/model d"
want "a name with a space is one word" all "$T/files/model dir"
comp ctensors inspect -- -
want "after -- a word is an operand, not an option" all
comp ctensors frobnicate ''
want "an unknown command offers nothing" all
EOF
bash "$TMP/harness.bash" "$TMP/ctensors.bash" "$TMP" >"$TMP/bash.out" 2>"$TMP/bash.err"
n_ok=0
while IFS= read -r line; do
	case $line in
	"ok "*) pass "bash: ${line#ok }"; n_ok=$((n_ok + 1)) ;;
	"not ok "*)
		rest=${line#not ok }
		fail "bash: ${rest%%: *}" "${rest#*: }"
		;;
	*) fail "bash harness output" "$line" ;;
	esac
done <"$TMP/bash.out"
[ -s "$TMP/bash.err" ] && fail "bash harness: nothing on stderr" "$(head -c 300 "$TMP/bash.err" | tr '\n' ' ')"
want_cases=$(grep -c '^want \|^complete -p' "$TMP/harness.bash")
[ "$(grep -c '^ok \|^not ok ' "$TMP/bash.out")" = "$want_cases" ] &&
	pass "bash: all $want_cases cases ran" || fail "bash: all $want_cases cases ran" "$(wc -l <"$TMP/bash.out") results"

# bash offers exactly the long options that 'ctensors help COMMAND' lists.
for c in $commands; do
	{
		echo "source \"\$1\""
		printf 'COMP_WORDS=(ctensors %s --); COMP_CWORD=2; _ctensors; printf "%%s\\n" "${COMPREPLY[@]}"\n' "$c"
	} >"$TMP/longs.bash"
	bash "$TMP/longs.bash" "$TMP/ctensors.bash" 2>&1 | sort >"$TMP/got-$c"
	awk -v c="$c" '$1 == c { print $2 }' "$TMP/longopts" | sort >"$TMP/want-$c"
	if [ -s "$TMP/want-$c" ] && cmp -s "$TMP/got-$c" "$TMP/want-$c"; then
		pass "bash: $c --<TAB> offers exactly its long options ($(wc -l <"$TMP/want-$c" | tr -d ' '))"
	else
		fail "bash: $c --<TAB> offers exactly its long options" \
			"$(diff "$TMP/want-$c" "$TMP/got-$c" | grep '^[<>]' | tr '\n' ' ')"
	fi
done
finish
