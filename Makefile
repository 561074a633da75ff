# ctensors - build, test, install.
#   make              build ./ctensors
#   make check        unit, CLI, golden and malformed-input tests, then all of
#                     them again under AddressSanitizer + UBSan
#   make install      PREFIX=/usr/local DESTDIR=
#   make bench        throughput and memory on a generated checkpoint

VERSION   := 0.1.0
PREFIX    ?= /usr/local
BINDIR    ?= $(PREFIX)/bin
MANDIR    ?= $(PREFIX)/share/man
CC        ?= cc
PKG_CONFIG ?= pkg-config
PKGS      := jansson libxxhash libpcre2-8

OPT       ?= -O2 -g
STD       := -std=c11 -D_GNU_SOURCE -DCT_VERSION='"$(VERSION)"'
WARN      := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS))
PKG_LIBS  := $(shell $(PKG_CONFIG) --libs $(PKGS))
CMOCKA_CFLAGS := $(shell $(PKG_CONFIG) --cflags cmocka 2>/dev/null)
CMOCKA_LIBS := $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null)

# BUILD selects an output tree so the sanitizer build never mixes with the
# normal one: build/ (default) or build/san (make check's second pass).
BUILD     ?= build
EXTRA_CFLAGS ?=
EXTRA_LDFLAGS ?=
CFLAGS_ALL = $(STD) $(WARN) $(OPT) $(EXTRA_CFLAGS) $(PKG_CFLAGS) -Isrc/lib -pthread
LDFLAGS_ALL = $(EXTRA_LDFLAGS) -pthread
LIBS_ALL  = $(PKG_LIBS) -lm

LIB_SRC   := $(sort $(wildcard src/lib/*.c))
CLI_SRC   := $(sort $(wildcard src/cli/*.c))
UNIT_SRC  := $(sort $(wildcard tests/unit/test_*.c))
TOOL_SRC  := $(sort $(wildcard tests/tools/*.c))

LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ   := $(CLI_SRC:%.c=$(BUILD)/%.o)
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_BIN  := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tools/%)
LIBA      := $(BUILD)/libctensors.a

ifeq ($(BUILD),build)
BIN       := ctensors
else
BIN       := $(BUILD)/ctensors
endif

SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

.PHONY: all check check-one check-san unit tools fixtures install uninstall clean bench fuzz man
all: $(BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(LIBA): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(BIN): $(CLI_OBJ) $(LIBA)
	$(CC) $(LDFLAGS_ALL) -o $@ $(CLI_OBJ) $(LIBA) $(LIBS_ALL)

$(BUILD)/tests/%: tests/unit/%.c $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(CMOCKA_CFLAGS) -Isrc/cli -o $@ $< $(LIBA) $(LDFLAGS_ALL) $(LIBS_ALL) $(CMOCKA_LIBS)

$(BUILD)/tools/%: tests/tools/%.c $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(LIBA) $(LDFLAGS_ALL) $(LIBS_ALL)

unit: $(UNIT_BIN)
tools: $(TOOL_BIN)

# One full pass over every test tier against the binaries of $(BUILD).
check-one: $(BIN) $(UNIT_BIN) $(TOOL_BIN)
	@CT_BIN=$(abspath $(BIN)) CT_TOOLS=$(abspath $(BUILD)/tools) \
	  CT_UNIT="$(abspath $(UNIT_BIN))" CT_GOLDEN=$(abspath ../shared/golden) \
	  sh tests/run.sh

check-san:
	$(MAKE) BUILD=build/san OPT="-O1 -g" EXTRA_CFLAGS="$(SAN_FLAGS)" EXTRA_LDFLAGS="$(SAN_FLAGS)" check-one

check: check-one
	@echo "== again under AddressSanitizer + UndefinedBehaviorSanitizer =="
	$(MAKE) check-san

install: $(BIN)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 755 ctensors $(DESTDIR)$(BINDIR)/ctensors
	install -m 644 man/ctensors.1 $(DESTDIR)$(MANDIR)/man1/ctensors.1

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/ctensors $(DESTDIR)$(MANDIR)/man1/ctensors.1

clean:
	rm -rf build ctensors

-include $(shell find build -name '*.d' 2>/dev/null)
