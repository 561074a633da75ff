#!/bin/sh
# tests/aarch64.sh - `make check-aarch64`: cross-builds ctensors and its unit
# tests for aarch64 and runs them under qemu-user, then the golden,
# convert and malformed-input suites with the aarch64 binary, so that the
# NEON kernels (test_kernels checks them against the portable ones) and
# the rest of an arm64 build are held to the same bytes as the x86 build.
# Needs, on Debian:
#   dpkg --add-architecture arm64 && apt-get update
#   apt-get install gcc-aarch64-linux-gnu qemu-user libc6-dev-arm64-cross \
#     libjansson-dev:arm64 libxxhash-dev:arm64 libcmocka-dev:arm64 \
#     libpcre2-dev:arm64 libyaml-dev:arm64
# Every command runs with -j 1: the qemu-user of Debian 12 on some hosts
# never finishes a program with two busy threads (a plain pthread loop
# hangs the same way), which is qemu's, not the code's.
cd "$(dirname "$0")/.." || exit 2
CROSS=${CROSS:-aarch64-linux-gnu}
QEMU=${QEMU:-qemu-aarch64}
SYSROOT=${SYSROOT:-/usr/$CROSS}
PCDIR=/usr/lib/$CROSS/pkgconfig
B=build/aarch64
for need in "$CROSS-gcc" "$QEMU"; do
	if ! command -v "$need" >/dev/null 2>&1; then
		echo "skip: $need is not installed (see tests/aarch64.sh for the packages)"
		exit 0
	fi
done
if [ ! -f "$PCDIR/jansson.pc" ] || [ ! -f "$PCDIR/cmocka.pc" ]; then
	echo "skip: the arm64 libraries are not installed (see tests/aarch64.sh)"
	exit 0
fi
echo "== cross-building for $CROSS"
PKG_CONFIG_LIBDIR=$PCDIR:/usr/share/pkgconfig make -s CC="$CROSS-gcc" BUILD=$B \
	BIN=$B/ctensors "$B/ctensors" unit || exit 1
x86tools=build/tools
make -s tools || exit 1

status=0
echo "== unit tests under $QEMU"
for t in "$B"/tests/test_*; do
	if CT_TEST_NO_THREADS=1 timeout 300 "$QEMU" -L "$SYSROOT" "$t" >"$B/unit.log" 2>&1; then
		echo "ok - $(basename "$t")"
	else
		echo "not ok - $(basename "$t")"
		tail -5 "$B/unit.log"
		status=1
	fi
done

# the CLI suites with the aarch64 binary (the test tools stay native)
wrapper=$B/ctensors-qemu
cat >"$wrapper" <<EOF
#!/bin/sh
cmd=\$1; shift
case \$cmd in
quantize|compress|decompress|convert|verify)
	exec "$QEMU" -L "$SYSROOT" "$(pwd)/$B/ctensors" "\$cmd" -j 1 "\$@" ;;
*)	exec "$QEMU" -L "$SYSROOT" "$(pwd)/$B/ctensors" "\$cmd" "\$@" ;;
esac
EOF
chmod +x "$wrapper"
for s in tests/golden.sh tests/convert.sh tests/malformed.sh; do
	echo "== $s under $QEMU"
	CT_BIN=$(pwd)/$wrapper CT_TOOLS=$(pwd)/$x86tools CT_GOLDEN=$(pwd)/../shared/golden \
		sh "$s" >"$B/suite.log" 2>&1
	grep '^not ok' "$B/suite.log" | head -n 5
	tail -n 1 "$B/suite.log"
	tail -n 1 "$B/suite.log" | grep -q ' 0 failed' || status=1
done
[ $status = 0 ] && echo "aarch64: every suite passed" || echo "aarch64: failures above"
exit $status
