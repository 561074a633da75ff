#!/bin/sh
# tests/wild.sh - compressed-tensors checkpoints as other producers write
# them (../shared/wild, Part 1: made by the library itself): every case
# decompresses tensor for tensor to its expected_decompressed, and verifies.
# Part 2 (MoE layouts) is not read here yet.
. "$(dirname "$0")/lib.sh"
T=${CT_TOOLS:?CT_TOOLS must name the built test tools}
WILD=${CT_WILD:-../shared/wild}
if [ ! -d "$WILD" ]; then
	skip "wild cases" "$WILD is absent (the shared fixtures are not beside this checkout)"
	finish
	exit $?
fi
n=0
for case in "$WILD"/*/; do
	case=${case%/}
	name=$(basename "$case")
	[ -f "$case/expected_decompressed.safetensors" ] || continue
	n=$((n + 1))
	out="$TMP/$name"
	if ! "$CT_BIN" decompress -q "$case/input" "$out" 2>"$TMP/err"; then
		fail "$name: decompress" "$(head -c 300 "$TMP/err")"
		continue
	fi
	set -- "$out"/*.safetensors
	if [ $# = 1 ] && "$T/stcmp" "$1" "$case/expected_decompressed.safetensors" 2>"$TMP/err"; then
		pass "$name: decompresses tensor for tensor to expected_decompressed"
	else
		fail "$name: decompresses tensor for tensor to expected_decompressed" "$# files; $(head -c 300 "$TMP/err")"
	fi
	expect "$name: verify accepts it" 0 "" verify -q "$case/input"
	expect "$name: verify --against the expected dense model" 0 "" \
		verify -q --exact --against "$case/expected_decompressed.safetensors" "$case/input"
done
# Mistral's layout keeps its own names: params.json, no config.json
m="$TMP/mistral_consolidated_w4a16_bf16"
if [ -d "$m" ]; then
	[ -f "$m/params.json" ] && [ ! -e "$m/config.json" ] && ! grep -q quantization_config "$m/params.json" &&
		[ -f "$m/consolidated.safetensors" ] &&
		pass "mistral: the dense output has params.json without quantization_config" ||
		fail "mistral: the dense output has params.json without quantization_config" "$(ls "$m")"
fi
[ "$n" -gt 0 ] && pass "$n Part 1 cases found" || fail "Part 1 cases found" "none in $WILD"
finish
