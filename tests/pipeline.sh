#!/bin/sh
# tests/pipeline.sh - what scripts in release pipelines rely on: the --json
# document of the writing commands (success, failure, dry run), "did you
# mean" for every mistyped name, the usage-error prefix and hint, inspect
# --tensor on compressed modules, escaped paths in the summary line, and the
# index keeping the input's other keys.
. "$(dirname "$0")/lib.sh"
T=${CT_TOOLS:?CT_TOOLS must name the built test tools}
FIX=fixtures/example-model
[ -d "$FIX" ] || { skip "pipeline" "$FIX is absent"; finish; exit $?; }
J="$T/jget"
S1=model-00001-of-00002.safetensors

# jeq NAME FILE PATH WANT: the value at PATH of the one document in FILE
jeq() {
	got=$("$J" "$3" <"$2" 2>"$TMP/jerr")
	[ "$got" = "$4" ] && pass "$1" || fail "$1" "$3 is '$got', expected '$4' $(cat "$TMP/jerr")"
}

# one_doc NAME FILE: stdout holds exactly one JSON document and nothing else
one_doc() {
	"$J" . <"$2" >/dev/null 2>"$TMP/jerr" && pass "$1" || fail "$1" "$(cat "$TMP/jerr"; head -c 200 "$2")"
}

# ---- --json on success ------------------------------------------------------
"$CT_BIN" quantize -q --json -s W4A16 "$FIX" "$TMP/w4" >"$TMP/q.json" 2>"$TMP/err"
st=$?
[ "$st" = 0 ] && [ ! -s "$TMP/err" ] && pass "quantize --json -q: exit 0, stderr empty" ||
	fail "quantize --json -q: exit 0, stderr empty" "status $st: $(cat "$TMP/err")"
one_doc "quantize --json: one document on stdout" "$TMP/q.json"
jeq "quantize --json: schema 1" "$TMP/q.json" .schema 1
jeq "quantize --json: command" "$TMP/q.json" .command quantize
jeq "quantize --json: ok" "$TMP/q.json" .ok true
jeq "quantize --json: status" "$TMP/q.json" .status 0
jeq "quantize --json: input as given" "$TMP/q.json" .input "$FIX"
jeq "quantize --json: output as given" "$TMP/q.json" .output "$TMP/w4"
jeq "quantize --json: not a dry run" "$TMP/q.json" .dry_run false
n_files=$(ls "$TMP/w4"/*.safetensors | wc -l)
jeq "quantize --json: every output shard" "$TMP/q.json" '.shards#' "$n_files"
jeq "quantize --json: shard path" "$TMP/q.json" '.shards[0].path' "$TMP/w4/$S1"
jeq "quantize --json: shard bytes are the file's size" "$TMP/q.json" '.shards[0].bytes' \
	"$(stat -c %s "$TMP/w4/$S1")"
tensors=$("$CT_BIN" inspect --json "$TMP/w4/$S1" | "$J" '.tensors#')
jeq "quantize --json: shard tensor count is the file's" "$TMP/q.json" '.shards[0].tensors' "$tensors"
total=$(cat "$TMP/w4"/*.safetensors | wc -c)
jeq "quantize --json: bytes_out is every shard's size" "$TMP/q.json" .bytes_out "$total"
packed=$("$CT_BIN" inspect --tensors "$TMP/w4" | grep -c 'weight_packed ')
quantized=$("$J" .modules <"$TMP/q.json" | grep -o '"action":"quantized"' | wc -l)
[ "$quantized" = "$packed" ] && [ "$packed" -gt 0 ] &&
	pass "quantize --json: one quantized module per packed weight ($packed)" ||
	fail "quantize --json: one quantized module per packed weight" "$quantized modules, $packed packed weights"
"$J" .modules <"$TMP/q.json" | grep -q '"action":"kept","name":"model.embed_tokens","reason":"ignored"' &&
	pass "quantize --json: a weight kept dense says why" ||
	fail "quantize --json: a weight kept dense says why" "$("$J" .modules <"$TMP/q.json" | head -c 300)"
"$J" .modules <"$TMP/q.json" | grep -q '"format":"pack-quantized","name":"model.layers.0.mlp.down_proj","parameters":[0-9]*,"scheme":"int4 group 128"' &&
	pass "quantize --json: a quantized module has format, scheme and parameters" ||
	fail "quantize --json: a quantized module has format, scheme and parameters" "$("$J" .modules <"$TMP/q.json" | head -c 300)"
bpw=$("$J" .bits_per_weight <"$TMP/q.json")
dry_bpw=$("$CT_BIN" quantize --dry-run -s W4A16 "$FIX" "$TMP/unused" | sed -n 's/.*, \([0-9.]*\) bits per weight.*/\1/p')
[ "$(printf '%.2f' "$bpw")" = "$dry_bpw" ] && pass "quantize --json: bits_per_weight agrees with --dry-run ($dry_bpw)" ||
	fail "quantize --json: bits_per_weight agrees with --dry-run" "$bpw vs $dry_bpw"
"$J" .seconds .parameters .parameters_quantized <"$TMP/q.json" >/dev/null &&
	pass "quantize --json: seconds and parameter counts" || fail "quantize --json: seconds and parameter counts"
jeq "quantize --json: no warnings" "$TMP/q.json" '.warnings#' 0
"$J" .error <"$TMP/q.json" >/dev/null 2>&1 && fail "quantize --json: no error on success" ||
	pass "quantize --json: no error on success"

# the document does not change the files
"$CT_BIN" quantize -q -s W4A16 "$FIX" "$TMP/w4b" 2>/dev/null
cmp -s "$TMP/w4/$S1" "$TMP/w4b/$S1" && cmp -s "$TMP/w4/config.json" "$TMP/w4b/config.json" &&
	pass "--json writes the same files" || fail "--json writes the same files"

# warnings are in the document, also those -q hides
"$CT_BIN" quantize -q --json -s W4A16 --ignore nothing.matches.this "$FIX" "$TMP/w4w" >"$TMP/w.json" 2>"$TMP/err"
[ ! -s "$TMP/err" ] && "$J" '.warnings[0]' <"$TMP/w.json" | grep -q 'nothing.matches.this' &&
	pass "--json -q: the warning -q hides is in the document" ||
	fail "--json -q: the warning -q hides is in the document" "$(cat "$TMP/err" "$TMP/w.json" | head -c 300)"

# ---- --json with --dry-run ---------------------------------------------------
"$CT_BIN" quantize --json --dry-run -s W4A16 "$FIX" "$TMP/dry" >"$TMP/d.json" 2>"$TMP/err"
st=$?
[ "$st" = 0 ] && [ ! -e "$TMP/dry" ] && pass "--json --dry-run: exit 0, nothing written" ||
	fail "--json --dry-run: exit 0, nothing written" "status $st"
one_doc "--json --dry-run: only the document on stdout (no listing)" "$TMP/d.json"
jeq "--json --dry-run: dry_run" "$TMP/d.json" .dry_run true
jeq "--json --dry-run: shard bytes the real run wrote" "$TMP/d.json" '.shards[0].bytes' \
	"$(stat -c %s "$TMP/w4/$S1")"

# ---- --json on failure ---------------------------------------------------------
"$CT_BIN" quantize --json -s W4A16 "$FIX" "$TMP/w4" >"$TMP/f.json" 2>"$TMP/err"
st=$?
[ "$st" = 2 ] && grep -q 'already exists' "$TMP/err" && pass "--json failure: exit status and stderr unchanged" ||
	fail "--json failure: exit status and stderr unchanged" "status $st: $(cat "$TMP/err")"
one_doc "--json failure: one document" "$TMP/f.json"
jeq "--json failure: ok false" "$TMP/f.json" .ok false
jeq "--json failure: status" "$TMP/f.json" .status 2
jeq "--json failure: error status" "$TMP/f.json" .error.status 2
"$J" .error.message <"$TMP/f.json" | grep -q "already exists (use --force" &&
	pass "--json failure: error message" || fail "--json failure: error message" "$(cat "$TMP/f.json")"
jeq "--json failure: no shards" "$TMP/f.json" '.shards#' 0

"$CT_BIN" quantize --bogus --json -s W4A16 "$FIX" "$TMP/x" >"$TMP/u.json" 2>/dev/null
st=$?
[ "$st" = 2 ] && pass "--json usage error: exit 2" || fail "--json usage error: exit 2" "status $st"
one_doc "--json usage error before --json is read: one document" "$TMP/u.json"
jeq "--json usage error: message" "$TMP/u.json" .error.message "unknown option --bogus"

"$CT_BIN" decompress --json "$TMP/absent" "$TMP/x" >"$TMP/i.json" 2>/dev/null
st=$?
[ "$st" = 3 ] || [ "$st" = 4 ] && pass "--json missing input: exit 3 or 4 ($st)" || fail "--json missing input" "status $st"
jeq "--json missing input: status in the document" "$TMP/i.json" .status "$st"
jeq "--json missing input: error status" "$TMP/i.json" .error.status "$st"
jeq "--json missing input: command" "$TMP/i.json" .command decompress

"$CT_BIN" quantize --json -h >"$TMP/h.out" 2>&1
head -n 1 "$TMP/h.out" | grep -q '^usage: ctensors quantize' && ! grep -q '"schema"' "$TMP/h.out" &&
	pass "--json --help prints the help alone" || fail "--json --help prints the help alone" "$(head -c 200 "$TMP/h.out")"

# ---- decompress and compress --json ---------------------------------------------
"$CT_BIN" decompress -q --json "$TMP/w4" "$TMP/dense" >"$TMP/dc.json" 2>"$TMP/err"
one_doc "decompress --json: one document" "$TMP/dc.json"
jeq "decompress --json: ok" "$TMP/dc.json" .ok true
dec=$("$J" .modules <"$TMP/dc.json" | grep -o '"action":"decompressed"' | wc -l)
[ "$dec" = "$packed" ] && pass "decompress --json: every quantized module decompressed ($dec)" ||
	fail "decompress --json: every quantized module decompressed" "$dec of $packed"
jeq "decompress --json: shard bytes" "$TMP/dc.json" '.shards[0].bytes' "$(stat -c %s "$TMP/dense/$S1")"

mkdir -p "$TMP/pruned"
cp "$FIX"/*.json "$TMP/pruned/"
for s in "$FIX"/*.safetensors; do "$T/prune" "$s" "$TMP/pruned/$(basename "$s")" 50 || exit 2; done
"$CT_BIN" compress -q --json -F sparse-bitmask "$TMP/pruned" "$TMP/sb" >"$TMP/c.json" 2>"$TMP/err"
jeq "compress --json: ok" "$TMP/c.json" .ok true
comp=$("$J" .modules <"$TMP/c.json" | grep -o '"action":"compressed","format":"sparse-bitmask"' | wc -l)
bitmasks=$("$CT_BIN" inspect --tensors "$TMP/sb" | grep -c '\.bitmask ')
[ "$comp" = "$bitmasks" ] && [ "$comp" -gt 0 ] && pass "compress --json: one compressed module per bitmask ($comp)" ||
	fail "compress --json: one compressed module per bitmask" "$comp modules, $bitmasks bitmasks"
"$CT_BIN" compress --json -F sparse-bitmask "$FIX" "$TMP/sb2" >"$TMP/c2.json" 2>/dev/null
jeq "compress --json: nothing sparse is a failure document" "$TMP/c2.json" .status 3

# ---- convert --json ------------------------------------------------------------
CONV=../shared/convert/gptq_v1_sym4_g128/input
if [ -d "$CONV" ]; then
	"$CT_BIN" convert -q --json "$CONV" "$TMP/cv" >"$TMP/cv.json" 2>"$TMP/err"
	jeq "convert --json: ok" "$TMP/cv.json" .ok true
	conv=$("$J" .modules <"$TMP/cv.json" | grep -o '"action":"converted"' | wc -l)
	packed_cv=$("$CT_BIN" inspect --tensors "$TMP/cv" | grep -c 'weight_packed ')
	[ "$conv" = "$packed_cv" ] && [ "$conv" -gt 0 ] &&
		pass "convert --json: each converted module once ($conv)" ||
		fail "convert --json: each converted module once" "$conv modules, $packed_cv packed weights"
else
	skip "convert --json" "../shared/convert is absent"
fi

# ---- did you mean ---------------------------------------------------------------
expect "a mistyped command" 2 "'quantise' is not a ctensors command; did you mean 'quantize'? (see 'ctensors help')" quantise
expect "a mistyped command, transposed letters" 2 "did you mean 'inspect'?" inpsect x
expect "a command nothing resembles" 2 "'frobnicate' is not a ctensors command (see 'ctensors help')" frobnicate
expect "a mistyped option" 2 "quantize: unknown option --shceme; did you mean '--scheme'? (see 'ctensors quantize --help')" \
	quantize --shceme W4A16 a b
expect "a mistyped option with a value" 2 "unknown option --dtpye; did you mean '--dtype'?" decompress --dtpye=f16 a b
expect "an ambiguous abbreviation" 2 "quantize: option --s is ambiguous (--scheme, --skip-incompatible)" quantize --s W4A16 a b
expect "a mistyped preset" 2 "quantize: preset \"W4A61\" is unknown; did you mean 'W4A16'?" quantize -s W4A61 "$FIX" "$TMP/p"
expect "a lower-case preset is the preset" 0 "" quantize -q --dry-run -s w4a16 "$FIX" "$TMP/p"
expect "a preset usage error has the prefix and hint" 2 "(see 'ctensors quantize --help')" quantize -s NOPE "$FIX" "$TMP/p"
expect "a format with underscores" 2 "compress: -F: 'sparse_24_bitmask' is not one of sparse-bitmask, sparse-24-bitmask; did you mean 'sparse-24-bitmask'? (see 'ctensors compress --help')" \
	compress -F sparse_24_bitmask a b
expect "a dtype by torch's name" 2 "--dtype: 'fp16' is not one of bf16, f16, f32; did you mean 'f16'?" decompress --dtype fp16 a b
expect "a dtype by its long name" 2 "did you mean 'bf16'?" decompress --dtype bfloat16 a b
expect "a dtype nothing resembles" 2 "--dtype: 'int3' is not one of bf16, f16, f32 (see 'ctensors decompress --help')" decompress --dtype int3 a b
printf '{"format": "pack_quantized", "config_groups": {"g": {"targets": ["Linear"], "weights": {"num_bits": 4, "group_size": 128, "strategy": "group"}}}}' >"$TMP/fmt.json"
expect "a format in a config file" 3 "\"pack_quantized\" is not a compression format; did you mean 'pack-quantized'?" \
	quantize -c "$TMP/fmt.json" "$FIX" "$TMP/p"
expect "--version takes no operands" 2 "--version takes no operands" --version extra
expect "--version alone" 0 "" --version

# ---- inspect --tensor on compressed modules --------------------------------------------
M=model.layers.0.mlp.down_proj
expect "inspect --tensor X.weight of a compressed module" 0 "" inspect --tensor "$M.weight" "$TMP/w4"
grep -q "$M.weight_packed " "$TMP/out" && grep -q "$M.weight_scale " "$TMP/out" &&
	grep -q "3 of [0-9]* tensors" "$TMP/out" && pass "X.weight shows the module's tensors" ||
	fail "X.weight shows the module's tensors" "$(head -c 300 "$TMP/out")"
expect "inspect --tensor MODULE" 0 "" inspect --tensor "$M" "$TMP/w4"
grep -q "$M.weight_packed " "$TMP/out" && pass "a module's name shows its tensors" ||
	fail "a module's name shows its tensors"
expect "inspect --tensor with a typo names the nearest" 3 "no such tensor or module; did you mean '$M.weight_packed'?" \
	inspect --tensor "$M.wieght_packed" "$TMP/w4"
expect "inspect --tensor of nothing" 3 "zzz: no such tensor or module (--tensors lists them)" inspect --tensor zzz "$TMP/w4"
expect "inspect --tensor X.weight of a dense model is the tensor" 0 "" inspect --tensor "$M.weight" "$FIX"
grep -q "1 of [0-9]* tensors" "$TMP/out" && pass "a dense X.weight is one tensor" || fail "a dense X.weight is one tensor"

# ---- the summary line escapes paths ---------------------------------------------
odd="$TMP/$(printf 'out\nctensors: forged\033[31m')"
"$CT_BIN" quantize -s W4A16 "$FIX" "$odd" 2>"$TMP/err" >/dev/null
[ "$(wc -l <"$TMP/err")" = 1 ] && grep -qF 'out\nctensors: forged\x1b[31m' "$TMP/err" &&
	! grep -q "$(printf '\033')" "$TMP/err" &&
	pass "the summary line escapes a newline and an escape in the output path" ||
	fail "the summary line escapes a newline and an escape in the output path" "$(od -c "$TMP/err" | head -5)"
"$CT_BIN" decompress "$odd" "$odd.d" 2>"$TMP/err" >/dev/null
[ "$(wc -l <"$TMP/err")" = 1 ] && ! grep -q "$(printf '\033')" "$TMP/err" &&
	pass "decompress's summary line escapes both paths" || fail "decompress's summary line escapes both paths" "$(od -c "$TMP/err" | head -5)"

# ---- the index keeps the input's other keys --------------------------------------
mkdir -p "$TMP/keys"
cp "$FIX"/* "$TMP/keys/"
idx="$TMP/keys/model.safetensors.index.json"
sed 's/^{$/{\n  "producer": {"name": "some-tool", "version": 3},/' "$FIX/model.safetensors.index.json" >"$idx"
sed -i 's/"total_size": \([0-9]*\)/"total_size": \1, "format": "pt"/' "$idx"
grep -q '"producer"' "$idx" || { fail "index fixture with an extra key"; finish; exit $?; }
"$CT_BIN" quantize -q -s W4A16 "$TMP/keys" "$TMP/keys-q" 2>"$TMP/err"
jeq "the written index keeps a top-level key of the input's" "$TMP/keys-q/model.safetensors.index.json" \
	.producer '{"name":"some-tool","version":3}'
jeq "the written index keeps a metadata key of the input's" "$TMP/keys-q/model.safetensors.index.json" \
	.metadata.format pt
sum=0
for f in "$TMP/keys-q"/*.safetensors; do
	sum=$((sum + $("$CT_BIN" inspect --json "$f" | "$J" .totals.bytes)))
done
jeq "the written index has the new total_size" "$TMP/keys-q/model.safetensors.index.json" \
	.metadata.total_size "$sum"
"$CT_BIN" decompress -q "$TMP/keys-q" "$TMP/keys-d" 2>/dev/null
jeq "decompress keeps it too" "$TMP/keys-d/model.safetensors.index.json" .producer.name some-tool

# ---- sparse weights counted, and named, in summaries and --json -------------
# two pruned weights of 16x128 and 32x64 (2048 each: 4096 in all) and a norm:
# the sparse-decompressed count is the targets' element count, as compress
# counts the sparse-compressed ones
"$T/mkst" "$TMP/sp-d.st" "a.weight:BF16:16x128" "b.weight:BF16:32x64" "n.weight:BF16:64" &&
	"$T/prune" "$TMP/sp-d.st" "$TMP/sp-p.st" 50 && "$CT_BIN" compress -q -F sparse-bitmask "$TMP/sp-p.st" "$TMP/sp-c.st" ||
	fail "sparse-bitmask fixture"
"$CT_BIN" decompress "$TMP/sp-c.st" "$TMP/sp-x.st" >"$TMP/out" 2>"$TMP/err"
grep -q 'sp-x.st: 4096 weights sparse-decompressed$' "$TMP/err" && ! grep -q '0 weights' "$TMP/err" &&
	pass "sparse-bitmask decompress: the summary counts the sparse-decompressed weights" ||
	fail "sparse-bitmask decompress: the summary counts the sparse-decompressed weights" "$(cat "$TMP/err")"
"$CT_BIN" decompress --json "$TMP/sp-c.st" "$TMP/sp-j.st" >"$TMP/sp.json" 2>/dev/null
jeq "sparse-bitmask decompress --json: parameters_sparse" "$TMP/sp.json" .parameters_sparse 4096
jeq "... parameters_quantized stays the quantized count" "$TMP/sp.json" .parameters_quantized 0
"$CT_BIN" compress --json -F sparse-bitmask "$TMP/sp-p.st" "$TMP/sp-c2.st" >"$TMP/spc.json" 2>/dev/null
jeq "compress --json: parameters_sparse" "$TMP/spc.json" .parameters_sparse 4096
"$T/mkst" "$TMP/sp-w.st" "a.weight:BF16:16x128" || fail "quantize fixture"
"$CT_BIN" quantize --json -s W4A16 "$TMP/sp-w.st" "$TMP/sp-q.st" >"$TMP/spq.json" 2>/dev/null
jeq "quantize --json: parameters_sparse 0 without sparsity" "$TMP/spq.json" .parameters_sparse 0

finish
