#!/bin/sh
# tests/bench/bench.sh - speed and memory of ctensors on a generated
# Llama-shaped BF16 checkpoint (about 2 GB; BENCH_LAYERS=44 for about 4 GB),
# cached in build/bench. A benchmark, not a test: it asserts nothing.
#
# For each job: the median wall time of BENCH_RUNS runs with the page cache
# warm, input GB/s (and per thread), peak RSS, and the ratio to the I/O
# floor measured in the same run.
#
# Disk mode (default): outputs go to BENCH_DIR, and the floor is reading the
# input and writing as many bytes, with fsync.
# tmpfs mode (BENCH_TMPFS=1, or BENCH_OUT set to a directory on tmpfs, by
# default /dev/shm): outputs go to memory, so the kernels are what is
# measured, and each job has its own floor: reading every input byte and
# writing that job's output size there (medians of BENCH_RUNS).
# BENCH_JOBS limits the jobs (e.g. "W4A16 NVFP4A16 decompress").
#
# With CT_GGML_Q4 (make bench GGML_DIR=...), W4A16 is also timed against
# ggml's Q4_0 (tests/bench/ggml/ggml_q4.c, llama-quantize's kernel and
# per-tensor loop) at the same threads; the "small" job does both on a
# model of 6,371 small tensors (gen_bench small), where the cost is per
# tensor.
set -eu
: "${CT_BIN:?}" "${CT_BENCH_TOOLS:?}"
LAYERS=${BENCH_LAYERS:-20}
RUNS=${BENCH_RUNS:-3}
DIR=${BENCH_DIR:-build/bench}
NPROC=$(nproc)
MODEL=$DIR/model-$LAYERS
TMPFS=${BENCH_TMPFS:-0}
[ -n "${BENCH_OUT:-}" ] && TMPFS=1
if [ "$TMPFS" != 0 ]; then
	ODIR=${BENCH_OUT:-/dev/shm}/ctensors-bench.$$
	mkdir -p "$ODIR"
	trap 'rm -rf "$ODIR"' EXIT INT TERM
else
	ODIR=$DIR
fi
OUT=$ODIR/out
JOBS=${BENCH_JOBS:-"W4A16 W8A8 FP8_DYNAMIC FP8_BLOCK NVFP4A16 MXFP4A16 decompress verify inspect convert small"}
GGML=${CT_GGML_Q4:-}
want() { case " $JOBS " in *" $1 "*) return 0 ;; esac; return 1; }
mkdir -p "$DIR"
if [ ! -f "$MODEL/config.json" ]; then
	echo "generating $MODEL ..."
	rm -rf "$MODEL"
	"$CT_BENCH_TOOLS/gen_bench" "$MODEL.tmp" "$LAYERS"
	mv "$MODEL.tmp" "$MODEL"
fi
SMALL=$DIR/small-32
if want small && [ ! -f "$SMALL/config.json" ]; then
	echo "generating $SMALL ..."
	rm -rf "$SMALL" "$SMALL.tmp"
	"$CT_BENCH_TOOLS/gen_bench" "$SMALL.tmp" 32 small
	mv "$SMALL.tmp" "$SMALL"
fi
BYTES=$(cat "$MODEL"/*.safetensors | wc -c)
cat "$MODEL"/*.safetensors >/dev/null  # warm the page cache

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# floor [-n BYTES] FILE...: median seconds to read FILEs and write BYTES
floor_of() {
	for i in $(seq "$RUNS"); do "$CT_BENCH_TOOLS/iofloor" "$@"; done | median
}
# iofloor's output goes where the job's output goes
floor_disk() { floor_of "$ODIR/floor.tmp" "$MODEL"/*.safetensors; }
[ "$TMPFS" = 0 ] && floor=$(floor_disk)

# run LABEL THREADS INPUT ARGS...: prints one table row; INPUT is the
# directory the job reads (for the floor and GB/s). In tmpfs mode each run
# of the job is followed by a run of its floor, so that both see the same
# state of the machine (on a VM the cost of fresh tmpfs pages drifts), and
# the floor of a -j N job is the faster of iofloor with 1 and N threads.
run() {
	label=$1; j=$2; in=$3; shift 3
	: >"$ODIR/times"
	: >"$ODIR/floors"
	rss=0
	inb=$(cat "$in"/*.safetensors | wc -c)
	for i in $(seq "$RUNS"); do
		rm -rf "$OUT"
		if [ "$1" = ggml ]; then
			# the harness writes one file; OUT is a directory for the floor
			mkdir -p "$OUT"
			/usr/bin/time -f "%e %M" -o "$ODIR/t" "$GGML" -t "$j" \
				"$OUT/ggml.safetensors" "$in"/*.safetensors >/dev/null
		else
			/usr/bin/time -f "%e %M" -o "$ODIR/t" "$CT_BIN" "$@" >/dev/null
		fi
		read -r t m <"$ODIR/t"
		echo "$t" >>"$ODIR/times"
		[ "$m" -gt "$rss" ] && rss=$m
		if [ "$TMPFS" != 0 ]; then
			outb=0
			[ -d "$OUT" ] && outb=$(cat "$OUT"/*.safetensors | wc -c)
			rm -rf "$OUT"
			f=$("$CT_BENCH_TOOLS/iofloor" -t 1 -n "$outb" "$ODIR/floor.tmp" "$in"/*.safetensors)
			if [ "$j" -gt 1 ]; then
				fj=$("$CT_BENCH_TOOLS/iofloor" -t "$j" -n "$outb" "$ODIR/floor.tmp" \
					"$in"/*.safetensors)
				f=$(awk -v a="$f" -v b="$fj" 'BEGIN { print (b < a ? b : a) }')
			fi
			echo "$f" >>"$ODIR/floors"
		fi
	done
	t=$(median <"$ODIR/times")
	last_t=$t
	if [ "$TMPFS" != 0 ]; then
		f=$(median <"$ODIR/floors")
	else
		f=$floor
	fi
	rm -rf "$OUT"
	awk -v l="$label" -v j="$j" -v t="$t" -v b="$inb" -v r="$rss" -v f="$f" 'BEGIN {
		printf "%-22s %3s %8.2f %8.2f %8.2f %8.0f %8.2f %8.2f\n", l, j, t, b / t / 1e9,
			b / t / 1e9 / j, r / 1024, f, (f > 0 ? t / f : 0) }'
}

if [ "$TMPFS" != 0 ]; then
	printf "input: %s, %.2f GB in %d shards (page cache, warm); output on tmpfs (%s); %d cores\n" \
		"$MODEL" "$(echo "$BYTES" | awk '{print $1/1e9}')" "$(ls "$MODEL"/*.safetensors | wc -l)" \
		"$ODIR" "$NPROC"
	echo "floor per job: read its input + write its output size to tmpfs (the faster of 1 and -j"
	echo "threads), run after each run of the job; medians of $RUNS"
	echo
else
	printf "input: %s, %.2f GB in %d shards; I/O floor %.2f s (%.2f GB/s); %d cores\n\n" \
		"$MODEL" "$(echo "$BYTES" | awk '{print $1/1e9}')" "$(ls "$MODEL"/*.safetensors | wc -l)" \
		"$floor" "$(awk -v b="$BYTES" -v f="$floor" 'BEGIN{print b/f/1e9}')" "$NPROC"
fi
printf "%-22s %3s %8s %8s %8s %8s %8s %8s\n" job -j seconds "GB/s" "GB/s/th" "RSS MB" "floor s" "x floor"
ratios=""
# against LABEL MODEL: W4A16 and ggml's Q4_0 on MODEL at 1 and NPROC threads
# (ggml only with CT_GGML_Q4), the ratio of their times kept for the summary
against() {
	for j in 1 "$NPROC"; do
		run "$1" "$j" "$2" quantize -q -f -j "$j" -s W4A16 "$2" "$OUT"
		ours=$last_t
		[ -n "$GGML" ] || continue
		run "${1% W4A16} ggml Q4_0" "$j" "$2" ggml
		ratios="$ratios$(awk -v l="$1" -v j="$j" -v a="$ours" -v b="$last_t" 'BEGIN {
			printf "%-22s %3s %8.2f x ggml Q4_0\\n", l, j, a / b }')"
	done
}
for s in W4A16 W8A8 FP8_DYNAMIC FP8_BLOCK NVFP4A16 MXFP4A16; do
	want "$s" || continue
	if [ "$s" = W4A16 ]; then
		against "quantize W4A16" "$MODEL"
		continue
	fi
	for j in 1 "$NPROC"; do
		run "quantize $s" "$j" "$MODEL" quantize -q -f -j "$j" -s "$s" "$MODEL" "$OUT"
	done
done
want small && against "small W4A16" "$SMALL"
if want decompress || want verify || want inspect || want convert; then
	W4=$ODIR/w4a16
	rm -rf "$W4"
	"$CT_BIN" quantize -q -s W4A16 "$MODEL" "$W4"
	cat "$W4"/*.safetensors >/dev/null
	if want decompress; then
		for j in 1 "$NPROC"; do
			run "decompress W4A16" "$j" "$W4" decompress -q -f -j "$j" "$W4" "$OUT"
		done
	fi
	if want verify; then
		for j in 1 "$NPROC"; do
			run "verify --against" "$j" "$MODEL" verify -q -j "$j" --against "$MODEL" "$W4"
		done
	fi
	want inspect && run "inspect" 1 "$W4" inspect "$W4"
	if want convert; then
		# the W4A16 model as a GPTQ v1 checkpoint, converted back
		GQ=$ODIR/gptq
		rm -rf "$GQ"
		"${CT_TOOLS:?}/ct2gptq" "$W4" "$GQ"
		cat "$GQ"/*.safetensors >/dev/null
		for j in 1 "$NPROC"; do
			run "convert GPTQ" "$j" "$GQ" convert -q -f -j "$j" "$GQ" "$OUT"
		done
		rm -rf "$GQ"
	fi
	rm -rf "$W4"
fi
rm -rf "$OUT"
echo
echo "GB/s counts the bytes of the job's input checkpoint (GB/s/th: per thread);"
echo "'x floor' is the time over the floor."
if [ -n "$ratios" ]; then
	echo
	echo "W4A16 time over ggml's Q4_0 time, same input and threads:"
	printf "$ratios"
elif [ -z "$GGML" ]; then
	echo "(no ggml comparison: make bench GGML_DIR=<an install of ggml>)"
fi
