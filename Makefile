# rpcver: build, test and demo.  `make help` lists the targets.

CC      ?= cc
CFLAGS  ?= -O2 -g
WARN     = -std=c11 -Wall -Wextra -Werror
VERSION := $(shell cat VERSION)
SRC      = $(wildcard ext/*.c)
HDR      = $(wildcard ext/*.h) build/schema_sql.h
CLIENT   = cluster/dqlite_client.c cluster/dqlite_client.h
# The wire client speaks TLS with OpenSSL (libssl-dev).
SSL_LIBS = $$(pkg-config --libs openssl 2>/dev/null || echo -lssl -lcrypto)
DAEMON   = cluster/rpcverd.c cluster/proxy.c cluster/proxy.h
SCHEMA   = schema/rpcver.sql schema/upgrade-from-1.sql schema/upgrade-from-1-finish.sql \
           schema/upgrade-from-2.sql
DEFS     = -DRPCVER_VERSION='"$(VERSION)"' -Iext -Ibuild

.PHONY: all loadable static cli cluster bench-cluster bench-oslo demo-cluster demo-oslo test model test-asan test-valgrind fuzz fuzz-smoke demo deps \
        deps-valgrind deps-fuzz install uninstall clean help

HAVE_DQLITE := $(shell pkg-config --exists dqlite && echo y)
all: loadable static cli $(if $(HAVE_DQLITE),cluster)

loadable: rpcver.so
static: build/librpcver.a

help:
	@echo "make            build rpcver.so (loadable), build/librpcver.a (static) and build/rpcver (CLI)"
	@echo "make install    install them, the header, schema, pkg-config file, bindings and"
	@echo "                cluster/certs.sh (as share/rpcver/certs.sh)"
	@echo "                (PREFIX=/usr/local, DESTDIR=); make uninstall removes them"
	@echo "make cluster    build/rpcverd, the dqlite node host (needs libdqlite-dev)"
	@echo "make test       run the Tcl test suite (installs what is missing)"
	@echo "make test-asan  the suite against an ASan+UBSan build of the extension"
	@echo "make test-valgrind  the suite under valgrind memcheck (smaller sizes)"
	@echo "make model     check model/rpcver.pml with spin (docs/in-flight.md; ~2 minutes, 1 GB)"
	@echo "make fuzz       run the libFuzzer targets, FUZZ_SECONDS each (default 300)"
	@echo "make fuzz-smoke the same for 20 seconds each (CI)"
	@echo "make demo       a rolling upgrade of manager processes on a local DB file"
	@echo "make demo-cluster  the same across a 3-node dqlite cluster, leader killed midway"
	@echo "make demo-oslo  a Cinder-like service on oslo.messaging over a private RabbitMQ:"
	@echo "                rolling upgrade, refusal, rollback by pin (docs/oslo.md)"
	@echo "make bench-cluster  rpcver's latency through a 3-node dqlite cluster, and with TLS"
	@echo "make bench-oslo one oslo.messaging call over RabbitMQ, with and without rpcver's cap"
	@echo "make bench      the benchmarks (bench/README.md; ~10 minutes, 2.5 GB of disk)"
	@echo "make clean      remove build output"

# The schema is embedded as C string literals: one source, schema/*.sql.
build/schema_sql.h: $(SCHEMA) tools/embed.sh
	@mkdir -p build
	sh tools/embed.sh rpc_schema_sql schema/rpcver.sql \
	    rpc_upgrade_from_1_sql schema/upgrade-from-1.sql \
	    rpc_upgrade_from_1_finish_sql schema/upgrade-from-1-finish.sql \
	    rpc_upgrade_from_2_sql schema/upgrade-from-2.sql > $@.tmp
	mv $@.tmp $@

# Only the two entry points (RPCVER_API in ext/rpcver.h) are exported:
# every other symbol is compiled hidden.  tests/api.test checks the lists.
HIDE     = -fvisibility=hidden

# The schema as it is embedded (VERSION_TEXT expanded): what make install
# installs.
build/rpcver.sql: schema/rpcver.sql tools/embed.sh
	@mkdir -p build
	sh tools/embed.sh --expand schema/rpcver.sql > $@.tmp
	mv $@.tmp $@

rpcver.so: $(SRC) $(HDR) VERSION
	$(CC) $(WARN) $(CFLAGS) $(HIDE) $(DEFS) -fPIC -shared -o $@ $(SRC)

# Static library for applications that link SQLite themselves and call
# sqlite3_auto_extension(sqlite3_rpcver_init).  Its objects are linked into
# one (ld -r) whose hidden symbols are then made local, so that the rv_
# internals cannot clash with, or be reached from, the program's own.
build/librpcver.a: $(SRC) $(HDR) VERSION
	@rm -rf build/static && mkdir -p build/static
	cd build/static && $(CC) $(WARN) $(CFLAGS) $(HIDE) -DSQLITE_CORE \
	    -DRPCVER_VERSION='"$(VERSION)"' -I../../ext -I.. -c $(addprefix ../../,$(SRC))
	ld -r -o build/static/rpcver.o.tmp build/static/*.o
	objcopy --localize-hidden build/static/rpcver.o.tmp build/rpcver.o
	rm -f $@ && ar rcs $@ build/rpcver.o

# The operator CLI links rpcver statically: it needs no extension path.
cli: build/rpcver
build/rpcver: $(wildcard cli/*.c cli/*.h) $(CLIENT) build/librpcver.a ext/rpcver.h
	$(CC) $(WARN) $(CFLAGS) -Iext -Icluster -o $@ $(filter %.c,$^) build/librpcver.a -lsqlite3 $(SSL_LIBS)

# The dqlite node host (docs/cluster.md).  It needs libdqlite-dev, which
# `make deps` installs; `make all` builds it when that is present.
cluster: build/rpcverd
build/rpcverd: $(DAEMON) $(CLIENT) build/librpcver.a ext/rpcver.h
	@pkg-config --exists dqlite || { echo "rpcverd needs libdqlite-dev: run make deps (or apt-get install libdqlite-dev)"; exit 1; }
	$(CC) $(WARN) $(CFLAGS) -DRPCVER_VERSION='"$(VERSION)"' -Iext -Icluster -o $@ \
	    $(filter %.c,$^) build/librpcver.a $$(pkg-config --cflags --libs dqlite) -lsqlite3 $(SSL_LIBS) -lpthread

# Install.  The loadable module goes to $(PREFIX)/lib/rpcver/rpcver.so, so
# `.load /usr/local/lib/rpcver/rpcver` works and the bindings find it.
PREFIX  ?= /usr/local
DESTDIR ?=
LIBDIR   = $(DESTDIR)$(PREFIX)/lib
PYTHON_VERSION := $(shell /usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
PYTHONDIR ?= $(if $(filter /usr,$(PREFIX)),$(PREFIX)/lib/python3/dist-packages,$(PREFIX)/lib/python$(PYTHON_VERSION)/dist-packages)
NODEDIR   ?= $(PREFIX)/lib/node_modules/rpcver
INSTALLED = $(PREFIX)/lib/rpcver/rpcver.so $(PREFIX)/lib/librpcver.a \
            $(PREFIX)/include/rpcver.h $(PREFIX)/lib/pkgconfig/rpcver.pc \
            $(PREFIX)/share/rpcver/rpcver.sql $(PREFIX)/share/rpcver/upgrade-from-1.sql \
            $(PREFIX)/share/rpcver/upgrade-from-1-finish.sql \
            $(PREFIX)/share/rpcver/upgrade-from-2.sql $(PREFIX)/share/rpcver/certs.sh \
            $(PREFIX)/bin/rpcver $(PREFIX)/bin/rpcverd \
            $(PYTHONDIR)/rpcver.py $(PYTHONDIR)/rpcver_cluster.py $(PYTHONDIR)/rpcver_oslo.py \
            $(NODEDIR)/rpcver.js $(NODEDIR)/package.json

install: all build/rpcver.sql
	install -d $(LIBDIR)/rpcver $(LIBDIR)/pkgconfig $(DESTDIR)$(PREFIX)/include \
	    $(DESTDIR)$(PREFIX)/share/rpcver $(DESTDIR)$(PREFIX)/bin \
	    $(DESTDIR)$(PYTHONDIR) $(DESTDIR)$(NODEDIR)
	install -m 755 rpcver.so $(LIBDIR)/rpcver/rpcver.so
	install -m 644 build/librpcver.a $(LIBDIR)/librpcver.a
	install -m 644 ext/rpcver.h $(DESTDIR)$(PREFIX)/include/rpcver.h
	install -m 644 build/rpcver.sql $(filter-out schema/rpcver.sql,$(SCHEMA)) \
	    $(DESTDIR)$(PREFIX)/share/rpcver/
	install -m 755 cluster/certs.sh $(DESTDIR)$(PREFIX)/share/rpcver/certs.sh
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' tools/rpcver.pc.in \
	    > $(LIBDIR)/pkgconfig/rpcver.pc
	install -m 755 build/rpcver $(DESTDIR)$(PREFIX)/bin/rpcver
	$(if $(HAVE_DQLITE),install -m 755 build/rpcverd $(DESTDIR)$(PREFIX)/bin/rpcverd)
	install -m 644 bindings/python/rpcver.py bindings/python/rpcver_cluster.py \
	    bindings/python/rpcver_oslo.py $(DESTDIR)$(PYTHONDIR)/
	install -m 644 bindings/node/rpcver.js bindings/node/package.json $(DESTDIR)$(NODEDIR)/

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	-rmdir $(LIBDIR)/rpcver $(DESTDIR)$(PREFIX)/share/rpcver $(DESTDIR)$(NODEDIR) 2>/dev/null

deps:
	@sh tools/deps.sh
deps-valgrind:
	@sh tools/deps.sh valgrind
deps-fuzz:
	@sh tools/deps.sh fuzz

# (valgrind and clang too: tests/deps.test holds deps.sh's checks of every
# group against the real tools)
# Test files run JOBS at a time (tests/all.tcl; those that race a clock or a
# kill run alone).  `make test JOBS=1` runs them one by one.
JOBS ?= $(shell nproc 2>/dev/null || echo 1)
test: deps deps-valgrind deps-fuzz loadable static cli cluster
	RPCVER_JOBS=$(JOBS) tclsh tests/all.tcl

# model/rpcver.pml checked by spin: the two holes found by the old rules, no
# violation under rpcver's (model/check.sh, docs/in-flight.md).
model: deps
	sh model/check.sh

# The suite against an AddressSanitizer + UndefinedBehaviorSanitizer build.
# Only processes that load rpcver get the sanitizer runtime (tests/tester.tcl).
ASAN_FLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
             -fno-sanitize-recover=all
build/asan/rpcver.so: $(SRC) $(HDR) VERSION
	@mkdir -p build/asan
	$(CC) $(WARN) $(ASAN_FLAGS) $(HIDE) $(DEFS) -fPIC -shared -o $@ $(SRC)

# The concurrent and crash tests run at reduced sizes here; make test runs
# them in full.
# rpcverd, with rpcver linked in, built with the same sanitizers.
build/asan/rpcverd: $(DAEMON) $(CLIENT) $(SRC) $(HDR) VERSION
	@mkdir -p build/asan
	$(CC) $(WARN) $(ASAN_FLAGS) $(DEFS) -DSQLITE_CORE -Icluster -o $@ \
	    cluster/rpcverd.c cluster/proxy.c cluster/dqlite_client.c $(SRC) \
	    $$(pkg-config --cflags --libs dqlite) -lsqlite3 $(SSL_LIBS) -lpthread

test-asan: deps build/asan/rpcver.so build/asan/rpcverd static cli cluster
	RPCVER_WRITER_OPS=300 RPCVER_CRASH_ROUNDS=20 \
	RPCVER_EXTENSION=$(CURDIR)/build/asan/rpcver \
	RPCVER_DAEMON=$(CURDIR)/build/asan/rpcverd \
	RPCVER_PRELOAD="$$($(CC) -print-file-name=libasan.so) $$($(CC) -print-file-name=libubsan.so)" \
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	RPCVER_JOBS=$(JOBS) tclsh tests/all.tcl

# The suite under valgrind memcheck: any memory error, or memory lost for
# good, fails the process that loaded rpcver.  The randomized, concurrent
# and crash tests run at reduced sizes here (valgrind is ~30x slower).
VALGRIND = valgrind -q --error-exitcode=99 --leak-check=full \
           --show-leak-kinds=definite,indirect \
           --errors-for-leak-kinds=definite,indirect
test-valgrind: deps-valgrind loadable static cli cluster
	RPCVER_VALGRIND="$(VALGRIND)" RPCVER_OPS=150 RPCVER_WRITERS=3 \
	RPCVER_WRITER_OPS=60 RPCVER_CRASH_ROUNDS=4 \
	RPCVER_JOBS=$(JOBS) tclsh tests/all.tcl

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
	$(MAKE) fuzz FUZZ_SECONDS=20

demo: deps loadable cli
	sh demo/rolling-upgrade.sh

# The same story across hosts: a 3-node dqlite cluster on this machine.
demo-cluster: deps cli cluster
	sh demo/cluster.sh

# The OpenStack stack: oslo.messaging and oslo.versionedobjects over a private
# RabbitMQ broker (docs/oslo.md).
demo-oslo: deps loadable
	/usr/bin/python3 demo/oslo/run.py

clean:
	rm -rf build rpcver.so tests/tmp

# Benchmarks (bench/README.md): build the harness against the static library
# and run it.  BENCH_QUICK=1 shrinks every size ~100x (a smoke run).
.PHONY: bench
BENCH_CACHE_SLOTS := $(shell sed -n 's/^\#define RPC_CACHE_SLOTS  *\([0-9][0-9]*\).*/\1/p' ext/rpcver_int.h)
build/bench/bench: bench/bench.c ext/rpcver.h build/librpcver.a
	@mkdir -p build/bench
	$(CC) $(WARN) -O2 -g -Iext -DRPC_CACHE_SLOTS_EXPECTED=$(BENCH_CACHE_SLOTS) \
	    -o $@ bench/bench.c build/librpcver.a -lsqlite3

# rpcver through a 3-node dqlite cluster next to a local file (bench/cluster.sh).
build/bench/cluster_latency: bench/cluster_latency.c $(CLIENT) build/librpcver.a ext/rpcver.h
	@mkdir -p build/bench
	$(CC) $(WARN) $(CFLAGS) -Iext -Icluster -o $@ bench/cluster_latency.c \
	    cluster/dqlite_client.c build/librpcver.a -lsqlite3 $(SSL_LIBS)
bench-cluster: cluster build/bench/cluster_latency
	sh bench/cluster.sh

# One oslo.messaging call over a private RabbitMQ, with and without the
# rpcver cap, side by side (bench/oslo_latency.py; about 30 s).
bench-oslo: deps loadable
	/usr/bin/python3 bench/oslo_latency.py

# The callgrind driver (bench/profile.c); built with the benchmark.
build/bench/profile: bench/profile.c ext/rpcver.h build/librpcver.a
	@mkdir -p build/bench
	$(CC) $(WARN) -O2 -g -Iext -o $@ bench/profile.c build/librpcver.a -lsqlite3

bench: build/bench/bench build/bench/profile
	./build/bench/bench
