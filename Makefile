# rpcver: build, test and demo.  `make help` lists the targets.

CC      ?= cc
CFLAGS  ?= -O2 -g
WARN     = -std=c11 -Wall -Wextra -Werror
VERSION := $(shell cat VERSION)
SRC      = $(wildcard ext/*.c)
HDR      = $(wildcard ext/*.h) build/schema_sql.h
SCHEMA   = schema/rpcver.sql schema/upgrade-from-1.sql
DEFS     = -DRPCVER_VERSION='"$(VERSION)"' -Iext -Ibuild

.PHONY: all loadable static test test-asan test-valgrind fuzz fuzz-smoke demo deps \
        deps-valgrind deps-fuzz clean help

all: loadable static

loadable: rpcver.so
static: build/librpcver.a

help:
	@echo "make            build rpcver.so (loadable) and build/librpcver.a (static)"
	@echo "make test       run the Tcl test suite (installs what is missing)"
	@echo "make test-asan  the suite against an ASan+UBSan build of the extension"
	@echo "make test-valgrind  the suite under valgrind memcheck (smaller sizes)"
	@echo "make fuzz       run the libFuzzer targets, FUZZ_SECONDS each (default 300)"
	@echo "make fuzz-smoke the same for 30 seconds each (CI)"
	@echo "make demo       a rolling upgrade of manager processes on a local DB file"
	@echo "make clean      remove build output"

# The schema is embedded as C string literals: one source, schema/*.sql.
build/schema_sql.h: $(SCHEMA) tools/embed.sh
	@mkdir -p build
	sh tools/embed.sh rpc_schema_sql schema/rpcver.sql \
	    rpc_upgrade_from_1_sql schema/upgrade-from-1.sql > $@.tmp
	mv $@.tmp $@

rpcver.so: $(SRC) $(HDR) VERSION
	$(CC) $(WARN) $(CFLAGS) $(DEFS) -fPIC -shared -o $@ $(SRC)

# Static library for applications that link SQLite themselves and call
# sqlite3_auto_extension(sqlite3_rpcver_init).
build/librpcver.a: $(SRC) $(HDR) VERSION
	@mkdir -p build/static
	cd build/static && $(CC) $(WARN) $(CFLAGS) -DSQLITE_CORE \
	    -DRPCVER_VERSION='"$(VERSION)"' -I../../ext -I.. -c $(addprefix ../../,$(SRC))
	ar rcs $@ build/static/*.o

deps:
	@sh tools/deps.sh
deps-valgrind:
	@sh tools/deps.sh valgrind
deps-fuzz:
	@sh tools/deps.sh fuzz

test: deps loadable static
	tclsh tests/all.tcl

# The suite against an AddressSanitizer + UndefinedBehaviorSanitizer build.
# Only processes that load rpcver get the sanitizer runtime (tests/tester.tcl).
ASAN_FLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
             -fno-sanitize-recover=all
build/asan/rpcver.so: $(SRC) $(HDR) VERSION
	@mkdir -p build/asan
	$(CC) $(WARN) $(ASAN_FLAGS) $(DEFS) -fPIC -shared -o $@ $(SRC)

test-asan: deps build/asan/rpcver.so static
	RPCVER_EXTENSION=$(CURDIR)/build/asan/rpcver \
	RPCVER_PRELOAD="$$($(CC) -print-file-name=libasan.so) $$($(CC) -print-file-name=libubsan.so)" \
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	tclsh tests/all.tcl

# The suite under valgrind memcheck: any memory error, or memory lost for
# good, fails the process that loaded rpcver.  The randomized, concurrent
# and crash tests run at reduced sizes here (valgrind is ~30x slower).
VALGRIND = valgrind -q --error-exitcode=99 --leak-check=full \
           --show-leak-kinds=definite,indirect \
           --errors-for-leak-kinds=definite,indirect
test-valgrind: deps-valgrind loadable static
	RPCVER_VALGRIND="$(VALGRIND)" RPCVER_OPS=150 RPCVER_WRITERS=3 \
	RPCVER_WRITER_OPS=60 RPCVER_CRASH_ROUNDS=4 \
	tclsh tests/all.tcl

# libFuzzer targets (clang), each seeded from fuzz/corpus/<name> into a
# working corpus under build/fuzz, run for FUZZ_SECONDS.  A crash leaves its
# input as build/fuzz/crash-* and fails the target.
FUZZ_SECONDS ?= 300
FUZZ_FLAGS = -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined \
             -fno-sanitize-recover=all -DSQLITE_CORE
FUZZERS = build/fuzz/fuzz_version build/fuzz/fuzz_ops
build/fuzz/%: fuzz/%.c $(SRC) $(HDR) VERSION
	@mkdir -p build/fuzz
	clang $(FUZZ_FLAGS) -DRPCVER_VERSION='"$(VERSION)"' -Iext -Ibuild -o $@ $< $(SRC) -lsqlite3

fuzz: deps-fuzz $(FUZZERS)
	@for f in $(FUZZERS); do \
	  name=$${f#build/fuzz/fuzz_}; \
	  mkdir -p build/fuzz/corpus-$$name; \
	  cp fuzz/corpus/$$name/* build/fuzz/corpus-$$name/; \
	  echo "== $$f for $(FUZZ_SECONDS) s"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=build/fuzz/ \
	      -print_final_stats=1 build/fuzz/corpus-$$name > build/fuzz/$$name.log 2>&1; \
	  rc=$$?; \
	  grep -E '^(stat::number_of_executed_units|Done|==[0-9]+==ERROR|SUMMARY|fuzz_)' build/fuzz/$$name.log; \
	  if [ $$rc -ne 0 ]; then \
	    echo "$$f: FAILED, exit $$rc (log: build/fuzz/$$name.log)"; exit 1; fi; \
	  echo "$$f: ok"; \
	done

fuzz-smoke:
	$(MAKE) fuzz FUZZ_SECONDS=30

demo: deps loadable
	sh demo/rolling-upgrade.sh

clean:
	rm -rf build rpcver.so tests/tmp
