# GEN workflow server - plain Makefile, pkg-config for every library.
# make            build bin/gen-server, bin/gen-worker, bin/genctl
# make run        packages, build, private PostgreSQL, demo data, run
# make test       throw-away PostgreSQL, every test, "N passed, N failed"
# make bench      benchmarks (not tests): one table of ratios; BENCH_QUICK=1 for a smoke run
# make SANITIZE=1 ASan+UBSan build

PKGS    := libevent libevent_openssl libevent_pthreads libpq libxml-2.0 openssl libcurl
CC      ?= cc
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow \
           -Wmissing-prototypes -Wstrict-prototypes -Wno-unused-parameter \
           -MMD -MP -Iserver -Iserver/third_party/http_parser $(shell pkg-config --cflags $(PKGS))
LDLIBS  += $(shell pkg-config --libs $(PKGS)) -lpthread -lm
ifeq ($(SANITIZE),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
BUILD   := build/san
BINDIR  := build/san/bin
else
BUILD   := build/rel
BINDIR  := bin
endif

# http-parser 2.9.4, vendored to be built in strict mode (Debian's library
# is not): see server/third_party/http_parser/README.md. Third-party code
# keeps its own style, so only the warnings it trips are relaxed, for it alone.
HTTP_PARSER := server/third_party/http_parser/http_parser.c
$(BUILD)/server/third_party/%.o: CFLAGS += -DHTTP_PARSER_STRICT=1 -Wno-shadow

# Modules shared by the server, the worker, genctl and the unit tests.
CORE_SRC   := $(filter-out server/main.c server/genctl.c, $(wildcard server/*.c)) $(HTTP_PARSER)
CORE_OBJ   := $(CORE_SRC:%.c=$(BUILD)/%.o)
WORKER_SRC := $(wildcard workers/*.c)
WORKER_OBJ := $(WORKER_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

BINS := $(BINDIR)/gen-server $(BINDIR)/gen-worker $(BINDIR)/genctl

.PHONY: all run test unit unit-bins bench fuzz clean
all: $(BINS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BINDIR)/gen-server: $(BUILD)/server/main.o $(CORE_OBJ)
	@mkdir -p $(BINDIR)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BINDIR)/gen-worker: $(WORKER_OBJ) $(CORE_OBJ)
	@mkdir -p $(BINDIR)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BINDIR)/genctl: $(BUILD)/server/genctl.o $(CORE_OBJ)
	@mkdir -p $(BINDIR)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(CORE_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/unit/%.o: tests/unit/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -c -o $@ $<

unit-bins: $(UNIT_BIN) $(BUILD)/tests/fuzz_replay $(BUILD)/tests/fuzz_http_replay

# The fuzz harnesses as plain programs that replay the corpus (make test):
# fuzz_replay for the XML intake, fuzz_http_replay for the HTTP front.
# (filter: an older build's dependency file may list headers here.)
$(BUILD)/tests/fuzz_replay: $(BUILD)/tests/fuzz/fuzz_xml.o $(BUILD)/tests/fuzz/replay.o $(CORE_OBJ)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LDLIBS)

$(BUILD)/tests/fuzz_http_replay: $(BUILD)/tests/fuzz/fuzz_http.o $(BUILD)/tests/fuzz/replay.o $(CORE_OBJ)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LDLIBS)

# libFuzzer (clang): make fuzz [FUZZ_SECONDS=60] [FUZZ_TARGETS="xml http"]
# runs each harness for FUZZ_SECONDS. New inputs go to build/fuzz/corpus/T;
# tests/fuzz/corpus/T is the committed seed corpus.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= xml http
FUZZ_CFLAGS := -g -O1 -std=c11 -D_GNU_SOURCE -Iserver -Iserver/third_party/http_parser \
               -DHTTP_PARSER_STRICT=1 -fsanitize=fuzzer,address,undefined \
               $(shell pkg-config --cflags $(PKGS))
fuzz:
	@EXTRA_PACKAGES="clang libfuzzer-14-dev libclang-rt-14-dev" bash deploy/packages.sh
	@$(MAKE) -s $(FUZZ_TARGETS:%=build/fuzz/fuzz_%)
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p build/fuzz/corpus/$$t && \
	  echo "build/fuzz/fuzz_$$t: $(FUZZ_SECONDS) s" && \
	  build/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -timeout=10 -close_fd_mask=2 -artifact_prefix=build/fuzz/ \
	    build/fuzz/corpus/$$t tests/fuzz/corpus/$$t || exit 1; \
	done

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(CORE_SRC)
	@mkdir -p build/fuzz
	clang $(FUZZ_CFLAGS) -o $@ $^ $(LDLIBS)

unit: $(UNIT_BIN)
	@st=0; for t in $(UNIT_BIN); do $$t || st=1; done; exit $$st

run:
	@TLS=$(TLS) deploy/run.sh

test:
	@tests/run-all.sh

bench: all
	@tests/bench/run.sh

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)

# Black-box tests with the binaries under valgrind, every log checked for
# errors and definite leaks: make valgrind [VALGRIND_TESTS="pytest args"]
.PHONY: valgrind
valgrind:
	@tests/valgrind.sh $(VALGRIND_TESTS)
