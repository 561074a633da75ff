#!/bin/sh
# tests/verify.sh - `ctensors verify`: passes what is intact, fails (exit 1)
# what is corrupt, inconsistent or unfaithful, and says which tensor.
. "$(dirname "$0")/lib.sh"
T=${CT_TOOLS:?CT_TOOLS must name the built test tools}
G=${CT_GOLDEN:-../shared/golden}
FIX=fixtures/example-model

# poke FILE TENSOR BYTES...: overwrite the first bytes of a tensor's data
poke() {
	set -- "$@"
	f=$1; t=$2; shift 2
	off=$("$T/stdump" -o "$f" | awk -v t="$t" '$1 == t {print $2}')
	[ -n "$off" ] || { echo "no tensor $t in $f" >&2; return 1; }
	printf "$@" | dd of="$f" bs=1 seek="$off" conv=notrunc status=none
}

"$CT_BIN" quantize -q -s W4A16 "$FIX" "$TMP/w4" || exit 2
expect "intact quantized directory" 0 "" verify "$TMP/w4"
grep -q ': OK$' "$TMP/out" && grep -q '49 checksums verified' "$TMP/out" && pass "verify says OK and counts checksums" ||
	fail "verify says OK and counts checksums" "$(cat "$TMP/out")"
expect "--against the original" 0 "" verify --against "$FIX" "$TMP/w4"
grep -q 'min SNR' "$TMP/out" && pass "--against reports fidelity" || fail "--against reports fidelity"
expect "impossible threshold fails" 1 "verification failed" verify --against "$FIX" --min-snr-db 200 "$TMP/w4"
grep -q 'q_proj.weight.*below --min-snr-db 200' "$TMP/out" && pass "the failing tensors are named" ||
	fail "the failing tensors are named" "$(head -5 "$TMP/out")"
expect "--min-cosine 1 fails" 1 "" verify --against "$FIX" --min-cosine 1 "$TMP/w4"
expect "--max-abs-err 0 fails" 1 "" verify --against "$FIX" --max-abs-err 0 "$TMP/w4"
expect "--exact fails on a lossy checkpoint" 1 "" verify --against "$FIX" --exact "$TMP/w4"
expect "--exact passes on the original itself" 0 "" verify --against "$FIX" --exact "$FIX"
expect "thresholds need --against" 2 "need --against" verify --exact "$TMP/w4"
expect "--json" 0 "" verify --json --against "$FIX" "$TMP/w4"
grep -q '"schema": 2' "$TMP/out" && grep -q '"ok": true' "$TMP/out" && grep -q '"snr_db"' "$TMP/out" &&
	pass "--json has schema, ok and per-tensor metrics" || fail "--json has schema, ok and per-tensor metrics"

# one flipped data byte
cp -r "$TMP/w4" "$TMP/flip"
poke "$TMP/flip/model-00001-of-00002.safetensors" model.layers.0.mlp.up_proj.weight_packed '\377\377'
expect "a flipped data byte fails" 1 "" verify "$TMP/flip"
grep -q 'up_proj.weight_packed.*checksum mismatch' "$TMP/out" && pass "the corrupt tensor is named" ||
	fail "the corrupt tensor is named" "$(head -3 "$TMP/out")"

# a scale set to NaN (a file without checksums, so decoding must catch it)
"$CT_BIN" quantize -q --plain-metadata -s W8A8 "$FIX" "$TMP/w8" || exit 2
expect "plain-metadata output verifies (structure only)" 0 "" verify "$TMP/w8"
grep -q 'without checksums' "$TMP/out" && pass "verify says checksums are absent" || fail "verify says checksums are absent"
poke "$TMP/w8/model-00002-of-00002.safetensors" model.layers.1.self_attn.k_proj.weight_scale '\300\177'
expect "a NaN scale fails" 1 "" verify "$TMP/w8"
grep -q 'k_proj.weight  weight_scale: scale 0 is nan' "$TMP/out" && pass "the NaN scale is named" ||
	fail "the NaN scale is named" "$(head -3 "$TMP/out")"

# a config that no longer matches the tensors
"$CT_BIN" quantize -q -s W8A16 "$FIX" "$TMP/w8a16" || exit 2
expect "a config of another scheme fails" 1 "" verify -c "$TMP/w4/config.json" "$TMP/w8a16"
"$T/mkst" "$TMP/extra.st" "a.weight:BF16:16x128" "c.weight:BF16:16x128" || exit 2
"$CT_BIN" quantize -q --ignore a -s W4A16 "$TMP/extra.st" "$TMP/extra.q.st" 2>/dev/null
echo '{"format": "pack-quantized", "config_groups": {"group_0": {"targets": ["Linear"], "weights": {"num_bits": 4, "group_size": 128, "strategy": "group"}}}}' >"$TMP/all.json"
expect "a target left dense fails" 1 "" verify -c "$TMP/all.json" "$TMP/extra.q.st"
grep -q 'a.weight.*not compressed' "$TMP/out" && pass "the uncompressed target is named" || fail "the uncompressed target is named" "$(head -3 "$TMP/out")"
"$T/mkst" "$TMP/more.st" "a.weight:BF16:16x128" "b.weight:BF16:16x128" || exit 2
expect "a tensor missing from the checkpoint fails --against" 1 "" verify --against "$TMP/more.st" "$TMP/extra.q.st"
grep -q 'b.weight.*missing' "$TMP/out" && pass "the missing tensor is named" || fail "the missing tensor is named"

# every golden-derived output verifies, and the library's own files too
if [ -d "$G" ]; then
	for dir in "$G"/*/; do
		c=$(basename "$dir")
		if grep -q '"config_groups"' "$dir/config.json"; then cmd="quantize --no-fuse-global-scale"; else cmd=compress; fi
		"$CT_BIN" $cmd -q -c "$dir/config.json" "$dir/input.safetensors" "$TMP/$c.st" &&
			"$CT_BIN" verify -q --against "$dir/input.safetensors" "$TMP/$c.st" &&
			"$CT_BIN" verify -q -c "$dir/config.json" "$dir/expected.safetensors" &&
			pass "$c: quantized output and expected.safetensors verify" ||
			fail "$c: quantized output and expected.safetensors verify"
		rm -f "$TMP/$c.st"
	done
else
	skip "golden outputs" "$G is absent"
fi
# ---- a header of many tensors costs a few hundred bytes a tensor ------------
# 300,000 tiny tensors (a 27 MB header): inspect and verify within 400 MB of
# address space (README: about 550 and 750 bytes a tensor); a JSON tree of
# the header alone took 1.5 kB a tensor. Sanitizers reserve terabytes of
# address space, so their build is not held to a limit.
case "$CT_BIN" in
*/san/*) skip "a header of 300,000 tensors in 400 MB" "the sanitizer build reserves address space" ;;
*)
	T=${CT_TOOLS:?CT_TOOLS must name the built test tools}
	"$T/mkmany" "$TMP/many.safetensors" 300000 || exit 2
	for c in inspect "verify -j 2"; do
		# shellcheck disable=SC2086
		if (ulimit -v 400000 && "$CT_BIN" $c "$TMP/many.safetensors" >"$TMP/out" 2>"$TMP/err"); then
			pass "$c of a header of 300,000 tensors in 400 MB"
		else
			fail "$c of a header of 300,000 tensors in 400 MB" "$(head -c 200 "$TMP/err")"
		fi
	done
	;;
esac
finish
