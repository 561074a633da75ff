#!/bin/sh
# tests/matching.sh - a config means what compressed-tensors means by it:
# which group quantizes a module (the most specific target wins, ties are
# refused), module classes (Linear never reaches an embedding or GPT-2's
# Conv1D), targets that match nothing, stray weight files beside an index,
# and the preset names every list shows.
. "$(dirname "$0")/lib.sh"
T=${CT_TOOLS:?CT_TOOLS must name the built test tools}
FIX=fixtures/example-model
mk() { "$T/mkst" "$@" || exit 2; }
# has CHECKPOINT NAME DTYPE: the checkpoint holds tensor NAME of that dtype
has() { "$T/stdump" "$2" >"$TMP/dump" 2>&1 && grep -q "^$3 $4 " "$TMP/dump"; }
# class_of JSON NAME: the module_class inspect --json gives tensor NAME
class_of() { grep -B1 "\"name\": \"$2\"" "$1" | sed -n 's/.*"module_class": "\([A-Za-z0-9]*\)".*/\1/p'; }

# ---- precedence: exact name, then regex, then class, whatever the order --------
mk "$TMP/m.st" "model.embed_tokens.weight:BF16:64x128" \
	"model.layers.0.self_attn.q_proj.weight:BF16:64x128" "model.layers.0.self_attn.k_proj.weight:BF16:64x128" \
	"model.layers.0.mlp.up_proj.weight:BF16:64x128" "model.layers.0.mlp.down_proj.weight:BF16:64x128" \
	"model.layers.1.self_attn.q_proj.weight:BF16:64x128" "model.layers.0.input_layernorm.weight:BF16:128" \
	"lm_head.weight:BF16:64x128"
W4='"weights": {"num_bits": 4, "group_size": 128, "strategy": "group"}'
W8='"weights": {"num_bits": 8, "strategy": "channel"}'
W2='"weights": {"num_bits": 2, "group_size": 32, "strategy": "group"}'
# three overlapping groups: Linear (int4), a regex for q/k (int8), one exact name (int2)
cat >"$TMP/ovl-a.json" <<EOF
{"config_groups": {"lin": {"targets": ["Linear"], $W4}, "qk": {"targets": ["re:.*self_attn\\\\.(q|k)_proj\$"], $W8},
 "one": {"targets": ["model.layers.1.self_attn.q_proj"], $W2}}, "ignore": ["lm_head"]}
EOF
cat >"$TMP/ovl-b.json" <<EOF
{"config_groups": {"one": {"targets": ["model.layers.1.self_attn.q_proj"], $W2},
 "qk": {"targets": ["re:.*self_attn\\\\.(q|k)_proj\$"], $W8}, "lin": {"targets": ["Linear"], $W4}}, "ignore": ["lm_head"]}
EOF
# the same meaning with every module named exactly, one group each
cat >"$TMP/ovl-exact.json" <<EOF
{"config_groups": {"lin": {"targets": ["model.layers.0.mlp.up_proj", "model.layers.0.mlp.down_proj"], $W4},
 "qk": {"targets": ["model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.k_proj"], $W8},
 "one": {"targets": ["model.layers.1.self_attn.q_proj"], $W2}}, "ignore": ["lm_head"]}
EOF
for c in a b exact; do
	expect "overlapping groups ($c): quantize" 0 "" quantize -q -c "$TMP/ovl-$c.json" "$TMP/m.st" "$TMP/ovl-$c.st"
done
check "group order does not change the result" "$T/stcmp" "$TMP/ovl-a.st" "$TMP/ovl-b.st"
check "overlapping groups mean what the exact names mean" "$T/stcmp" "$TMP/ovl-a.st" "$TMP/ovl-exact.st"
has x "$TMP/ovl-a.st" model.layers.1.self_attn.q_proj.weight_packed "I32 \[64,8\]" &&
	grep -q "^model.layers.1.self_attn.q_proj.weight_scale BF16 \[64,4\]" "$TMP/dump" &&
	grep -q "^model.layers.0.self_attn.q_proj.weight_packed I32 \[64,32\]" "$TMP/dump" &&
	grep -q "^model.layers.0.mlp.up_proj.weight_packed I32 \[64,16\]" "$TMP/dump" &&
	pass "exact name -> int2 packed, regex -> int8, class -> int4 packed" ||
	fail "exact name -> int2 packed, regex -> int8, class -> int4 packed"
for c in a b; do
	expect "its own verify accepts the output ($c)" 0 "" verify -q --against "$TMP/m.st" "$TMP/ovl-$c.st"
	expect "and decompress reads it ($c)" 0 "" decompress -q "$TMP/ovl-$c.st" "$TMP/ovl-$c.d.st"
done
check "both orders decompress alike" "$T/stcmp" "$TMP/ovl-a.d.st" "$TMP/ovl-b.d.st"
# an int8 regex group listed after a Linear int4 group still wins
cat >"$TMP/late-re.json" <<EOF
{"config_groups": {"group_0": {"targets": ["Linear"], $W4}, "group_1": {"targets": ["re:.*down_proj\$"], $W8}}}
EOF
expect "a regex group after a Linear group" 0 "" quantize -q -c "$TMP/late-re.json" "$TMP/m.st" "$TMP/late.st"
has x "$TMP/late.st" model.layers.0.mlp.down_proj.weight_packed "I32 \[64,32\]" &&
	has x "$TMP/late.st" model.layers.0.mlp.up_proj.weight_packed "I32 \[64,16\]" &&
	pass "the regex group quantizes down_proj (int8)" || fail "the regex group quantizes down_proj (int8)" "$(grep proj "$TMP/dump" | head -4)"

# ---- ties: two groups at the same level are refused, naming both ----------------
cat >"$TMP/tie-re.json" <<EOF
{"config_groups": {"a": {"targets": ["re:.*proj\$"], $W4}, "b": {"targets": ["re:.*q_proj\$"], $W8}}}
EOF
expect "two regexes of two groups match one module" 3 \
	"model.layers.0.self_attn.q_proj: config groups a (target \"re:.*proj\$\") and b (target \"re:.*q_proj\$\") both match it by a regex" \
	quantize -c "$TMP/tie-re.json" "$TMP/m.st" "$TMP/tie.st"
[ ! -e "$TMP/tie.st" ] && pass "a tie writes nothing" || fail "a tie writes nothing"
cat >"$TMP/tie-cls.json" <<EOF
{"config_groups": {"x": {"targets": ["Linear"], $W4}, "y": {"targets": ["Linear"], $W8}}}
EOF
expect "two groups both targeting Linear" 3 "config groups x (target \"Linear\") and y (target \"Linear\") both match it by its class" \
	quantize --dry-run -c "$TMP/tie-cls.json" "$TMP/m.st" "$TMP/tie.st"
cat >"$TMP/tie-name.json" <<EOF
{"config_groups": {"x": {"targets": ["lm_head"], $W4}, "y": {"targets": ["lm_head", "Linear"], $W8}}}
EOF
expect "one exact name in two groups" 3 "lm_head: config groups x (target \"lm_head\") and y (target \"lm_head\") both match it by its exact name" \
	quantize -c "$TMP/tie-name.json" "$TMP/m.st" "$TMP/tie.st"
cat >"$TMP/tie-ign.json" <<EOF
{"config_groups": {"a": {"targets": ["re:.*proj\$"], $W4}, "b": {"targets": ["re:.*q_proj\$"], $W8}},
 "ignore": ["re:.*q_proj\$"]}
EOF
expect "an ignored module is never ambiguous" 0 "" quantize -q -c "$TMP/tie-ign.json" "$TMP/m.st" "$TMP/tie-ign.st"
# decompress and verify refuse an ambiguous config too
cat >"$TMP/tie-dec.json" <<EOF
{"format": "pack-quantized", "config_groups": {"a": {"targets": ["re:.*up_proj\$", "lm_head", "re:.*self_attn.*"], $W4},
 "b": {"targets": ["re:.*mlp.*"], $W4}}}
EOF
expect "decompress with an ambiguous config" 3 "both match it by a regex" decompress -c "$TMP/tie-dec.json" "$TMP/late.st" "$TMP/tie.d.st"

# ---- classes: Linear is not an embedding, nor GPT-2's Conv1D ---------------------
cat >"$TMP/linear.json" <<EOF
{"config_groups": {"group_0": {"targets": ["Linear"], $W4}}, "ignore": ["lm_head"]}
EOF
expect "the llm-compressor recipe (targets Linear)" 0 "" quantize -q -c "$TMP/linear.json" "$TMP/m.st" "$TMP/lin.st"
has x "$TMP/lin.st" model.embed_tokens.weight BF16 && ! grep -q 'embed_tokens.weight_packed' "$TMP/dump" &&
	pass "Linear leaves the embedding dense" || fail "Linear leaves the embedding dense"
"$CT_BIN" inspect --json "$TMP/lin.st" >"$TMP/out"
[ "$(class_of "$TMP/out" model.embed_tokens.weight)" = Embedding ] &&
	[ "$(class_of "$TMP/out" model.layers.0.input_layernorm.weight)" = Norm ] &&
	[ "$(class_of "$TMP/out" model.layers.0.mlp.up_proj.weight_packed)" = Linear ] &&
	[ "$(class_of "$TMP/out" model.layers.0.mlp.up_proj.weight_scale)" = Linear ] &&
	pass "inspect --json shows the inferred module class" ||
	fail "inspect --json shows the inferred module class" "$(class_of "$TMP/out" model.embed_tokens.weight)"
expect "verify accepts the checkpoint llm-compressor would write" 0 "" verify -q "$TMP/lin.st"
"$CT_BIN" quantize --dry-run -c "$TMP/linear.json" "$TMP/m.st" "$TMP/x.st" >"$TMP/out" 2>&1
grep -q 'model.embed_tokens.weight  BF16  kept (Embedding module: no target matches)' "$TMP/out" &&
	grep -q 'lm_head.weight  BF16  kept (ignored)' "$TMP/out" &&
	grep -q 'input_layernorm.weight  BF16  kept (Norm module: no target matches)' "$TMP/out" &&
	pass "--dry-run says why each weight is kept" || fail "--dry-run says why each weight is kept" "$(cat "$TMP/out")"
# a class target quantizes the embedding, as the library does for nn.Embedding
cat >"$TMP/emb.json" <<EOF
{"config_groups": {"e": {"targets": ["Embedding"], $W8}, "l": {"targets": ["Linear"], $W4}}, "ignore": ["lm_head"]}
EOF
expect "targets Embedding" 0 "" quantize -q -c "$TMP/emb.json" "$TMP/m.st" "$TMP/emb.st"
has x "$TMP/emb.st" model.embed_tokens.weight_packed "I32 \[64,32\]" && pass "Embedding quantizes the embedding" ||
	fail "Embedding quantizes the embedding"
expect "and verify agrees" 0 "" verify -q --against "$TMP/m.st" "$TMP/emb.st"
# an ignore entry by class
cat >"$TMP/ign-cls.json" <<EOF
{"config_groups": {"e": {"targets": ["re:.*"], $W8}}, "ignore": ["Embedding", "lm_head"]}
EOF
expect "ignore by class" 0 "" quantize -q -c "$TMP/ign-cls.json" "$TMP/m.st" "$TMP/ign-cls.st"
has x "$TMP/ign-cls.st" model.embed_tokens.weight BF16 &&
	has x "$TMP/ign-cls.st" model.layers.0.input_layernorm.weight BF16 &&
	has x "$TMP/ign-cls.st" model.layers.0.mlp.up_proj.weight_packed I32 &&
	pass "ignore Embedding keeps it dense; a regex reaching a norm leaves it dense" ||
	fail "ignore Embedding keeps it dense; a regex reaching a norm leaves it dense"
# GPT-2: c_attn/c_proj/c_fc are Conv1D (transposed), never Linear
mkdir -p "$TMP/gpt2"
mk "$TMP/gpt2/model.safetensors" "transformer.wte.weight:F32:64x128" "transformer.wpe.weight:F32:32x128" \
	"transformer.h.0.attn.c_attn.weight:F32:128x384" "transformer.h.0.attn.c_proj.weight:F32:128x128" \
	"transformer.h.0.mlp.c_fc.weight:F32:128x512" "transformer.h.0.mlp.c_proj.weight:F32:512x128" \
	"transformer.h.0.ln_1.weight:F32:128" "lm_head.weight:F32:64x128"
echo '{"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"}' >"$TMP/gpt2/config.json"
"$CT_BIN" quantize --dry-run -s W8A16 "$TMP/gpt2" "$TMP/gpt2.q" >"$TMP/out" 2>"$TMP/err"
st=$?
[ $st = 3 ] && grep -q 'nothing to quantize' "$TMP/err" &&
	grep -q 'c_attn.weight  F32  kept (Conv1D module: no target matches)' "$TMP/out" &&
	grep -q 'transformer.wte.weight  F32  kept (' "$TMP/out" &&
	pass "GPT-2: Linear matches neither Conv1D nor embeddings (nothing to quantize)" ||
	fail "GPT-2: Linear matches neither Conv1D nor embeddings" "exit $st: $(cat "$TMP/err" "$TMP/out" | head -5)"
echo '{"architectures": ["GPTBigCodeForCausalLM"], "model_type": "gpt_bigcode"}' >"$TMP/gpt2/config.json"
expect "GPTBigCode builds the same names as Linear: quantized" 0 "" quantize -q -s W8A16 "$TMP/gpt2" "$TMP/bigcode.q"
has x "$TMP/bigcode.q" transformer.h.0.attn.c_attn.weight_packed I32 &&
	has x "$TMP/bigcode.q" transformer.wte.weight F32 &&
	pass "GPTBigCode: c_attn quantized, wte dense" || fail "GPTBigCode: c_attn quantized, wte dense"

# a model directory as llm-compressor saves it: the config only in config.json
# (targets Linear, ignore lm_head), no checksums, the embedding dense
if [ -d "$FIX" ]; then
	expect "an llm-compressor-style model directory" 0 "" \
		quantize -q --plain-metadata -c "$TMP/linear.json" "$FIX" "$TMP/llmc"
	expect "verify accepts it (embedding dense, Linear targets)" 0 "" verify -q "$TMP/llmc"
	expect "verify --against the original" 0 "" verify -q --against "$FIX" "$TMP/llmc"
	expect "decompress reads it" 0 "" decompress -q "$TMP/llmc" "$TMP/llmc.d"
fi

# ---- targets and ignore entries that match nothing ------------------------------
cat >"$TMP/unused.json" <<EOF
{"config_groups": {"g": {"targets": ["Linear", "re:.*nothing_here\$"], $W4}}, "ignore": ["lm_head", "model.no_such"]}
EOF
expect "an unmatched target and ignore entry: warned, still written" 0 \
	"warning: config group g: target \"re:.*nothing_here\$\" matches no module" \
	quantize -c "$TMP/unused.json" "$TMP/m.st" "$TMP/unused.st"
grep -q 'warning: ignore entry "model.no_such" matches no module' "$TMP/err" &&
	pass "the unmatched ignore entry is named" || fail "the unmatched ignore entry is named" "$(cat "$TMP/err")"
! grep -q '"lm_head"' "$TMP/err" && pass "entries that match are not warned about" || fail "entries that match are not warned about"
cat >"$TMP/nothing.json" <<EOF
{"config_groups": {"g": {"targets": ["re:.*nothing_here\$"], $W4}}}
EOF
expect "nothing quantized at all: exit 3" 3 "nothing to quantize" quantize -q -c "$TMP/nothing.json" "$TMP/m.st" "$TMP/nothing.st"
[ ! -e "$TMP/nothing.st" ] && pass "and nothing written" || fail "and nothing written"
expect "everything ignored: exit 3" 3 "nothing to quantize" quantize -q -s W4A16 --ignore 're:.*' "$TMP/m.st" "$TMP/nothing.st"
# a preset's own lm_head entry is not a user's mistake
mk "$TMP/nohead.st" "a.q_proj.weight:BF16:16x128"
expect "a preset on a model without lm_head: no warning" 0 "" quantize -s W4A16 "$TMP/nohead.st" "$TMP/nohead.q.st"
! grep -q warning "$TMP/err" && pass "no warning about lm_head" || fail "no warning about lm_head" "$(cat "$TMP/err")"

# ---- weight files beside an index that it does not list -------------------------
if [ -d "$FIX" ]; then
	cp -r "$FIX" "$TMP/stray"
	cp "$TMP/m.st" "$TMP/stray/old-export.safetensors"
	expect "an unlisted shard: warned" 0 "old-export.safetensors is not listed in the index" \
		quantize -s W4A16 "$TMP/stray" "$TMP/stray.q"
	[ ! -e "$TMP/stray.q/old-export.safetensors" ] && pass "and not copied" || fail "and not copied"
	cp "$TMP/m.st" "$TMP/stray/model.safetensors"
	for cmd in "inspect" "quantize -s W4A16" "decompress" "verify"; do
		out=; [ "$cmd" = inspect ] || [ "$cmd" = verify ] || out="$TMP/stray.out"
		# shellcheck disable=SC2086
		expect "$cmd: a stray model.safetensors beside an index is refused" 3 \
			"model.safetensors is not listed in model.safetensors.index.json, but transformers loads model.safetensors" \
			$cmd "$TMP/stray" $out
	done
fi

# ---- symbolic links in an input directory that cannot be followed ------------
# stat(2) fails on a dangling link (ENOENT) or a loop (ELOOP): whatever it
# names is skipped by every listing, so each is named in a warning
# (checkpoint.c:find_broken_links, printed by cli_open_checkpoint)
if [ -d "$FIX" ]; then
	cp -r "$FIX" "$TMP/links"
	ln -s /nonexistent/tokenizer.model "$TMP/links/tokenizer.model"
	ln -s loop.json "$TMP/links/loop.json"
	ln -s ../gone/extra.safetensors "$TMP/links/extra.safetensors"
	printf '{}\n' >"$TMP/stm.json" && ln -s "$TMP/stm.json" "$TMP/links/special_tokens_map.json"
	for cmd in "quantize -s W4A16" "inspect"; do
		out=; [ "$cmd" = inspect ] || out="$TMP/links.q"
		# shellcheck disable=SC2086
		run_cli 0 $cmd "$TMP/links" $out
		st=$?
		grep -qF "$TMP/links: tokenizer.model: a dangling symbolic link (to /nonexistent/tokenizer.model): skipped (not read, not copied)" "$TMP/err" &&
			grep -qF "$TMP/links: loop.json: a symbolic link that loops (to loop.json): skipped" "$TMP/err" &&
			grep -qF "$TMP/links: extra.safetensors: a dangling symbolic link (to ../gone/extra.safetensors): skipped" "$TMP/err" &&
			[ "$(grep -c 'symbolic link' "$TMP/err")" = 3 ] && [ "$(grep -c warning "$TMP/err")" = 3 ] && [ $st = 0 ] &&
			pass "$cmd: dangling and looping links are warned about, each named" ||
			fail "$cmd: dangling and looping links are warned about, each named" "status $st: $(cat "$TMP/err" "$TMP/why" 2>/dev/null | head -5)"
	done
	[ ! -e "$TMP/links.q/tokenizer.model" ] && [ ! -e "$TMP/links.q/loop.json" ] &&
		[ -f "$TMP/links.q/special_tokens_map.json" ] && [ -f "$TMP/links.q/tokenizer.json" ] &&
		pass "... not copied, while a link that resolves is copied" ||
		fail "... not copied, while a link that resolves is copied" "$(ls "$TMP/links.q" | tr '\n' ' ')"
	mkdir "$TMP/cfglink" && cp "$TMP/m.st" "$TMP/cfglink/model.safetensors" &&
		ln -s /nonexistent/config.json "$TMP/cfglink/config.json"
	expect "a dangling config.json: quantize warns" 0 "$TMP/cfglink: config.json: a dangling symbolic link (to /nonexistent/config.json): skipped" \
		quantize -s W4A16 "$TMP/cfglink" "$TMP/cfglink.q"
	ln -s /nonexistent/tokenizer.model "$TMP/cfglink.q/tokenizer.model"
	expect "decompress warns too" 0 "$TMP/cfglink.q: tokenizer.model: a dangling symbolic link (to /nonexistent/tokenizer.model): skipped" \
		decompress "$TMP/cfglink.q" "$TMP/cfglink.d"
	expect "verify warns too, and the checkpoint passes" 0 "$TMP/cfglink.q: tokenizer.model: a dangling symbolic link (to /nonexistent/tokenizer.model): skipped (not read)" \
		verify "$TMP/cfglink.q"
fi

# ---- presets: every name any list shows exists, and the lists are complete ------
names=$("$CT_BIN" quantize -s NOPE a b 2>&1 | sed 's/.*is unknown (//; s/) (see .*//; s/, / /g')
comp=$("$CT_BIN" completion bash | grep -o "W4A16 W4A16_ASYM[A-Z0-9_ ]*" | head -1)
readme=$(sed -n '/^Presets (as compressed-tensors/,/^$/p' README.md | tr -s ' ,.\n()' '\n' | grep -E '^(W[0-9]|INT8|FP8|NVFP4|MXFP)')
man=$(sed -n '/\*-s\*, \*--scheme\*/,/^; -/p' man/ctensors.1.scd | grep -o '\*[A-Z0-9_]*\*' | tr -d '*' | grep -E '^(W[0-9]|INT8|FP8_|NVFP4A|MXFP)')
[ -n "$names" ] && [ -n "$comp" ] && [ -n "$readme" ] && [ -n "$man" ] && pass "preset lists found" || fail "preset lists found"
bad=
for s in $names $comp $readme $man; do
	"$CT_BIN" quantize -q --dry-run -s "$s" "$TMP/m.st" "$TMP/x.st" >/dev/null 2>"$TMP/err" ||
		grep -q 'needs calibration' "$TMP/err" || bad="$bad $s"
done
[ -z "$bad" ] && pass "every listed preset exists" || fail "every listed preset exists" "unknown:$bad"
for s in $names; do
	echo " $comp " | grep -q " $s " || bad="$bad completion:$s"
	echo "$readme" | grep -qx "$s" || bad="$bad README:$s"
done
[ -z "$bad" ] && pass "completion and README list every preset" || fail "completion and README list every preset" "$bad"
expect "W5A4 is not a preset" 2 'preset "W5A4" is unknown' quantize -s W5A4 "$TMP/m.st" "$TMP/x.st"
expect "presets are case-insensitive" 0 "" quantize -q --dry-run -s w4a16 "$TMP/m.st" "$TMP/x.st"

finish
