# rpcver: build, test and demo.  `make help` lists the targets.

CC      ?= cc
CFLAGS  ?= -O2 -g
WARN     = -std=c11 -Wall -Wextra -Werror
VERSION := $(shell cat VERSION)
SRC      = $(wildcard ext/*.c)
HDR      = $(wildcard ext/*.h) build/schema_sql.h
SCHEMA   = schema/rpcver.sql schema/upgrade-from-1.sql
DEFS     = -DRPCVER_VERSION='"$(VERSION)"' -Iext -Ibuild

.PHONY: all loadable static test test-asan demo deps clean help

all: loadable static

loadable: rpcver.so
static: build/librpcver.a

help:
	@echo "make            build rpcver.so (loadable) and build/librpcver.a (static)"
	@echo "make test       run the Tcl test suite (installs what is missing)"
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

test: deps loadable static
	tclsh tests/all.tcl

demo: deps loadable
	sh demo/rolling-upgrade.sh

clean:
	rm -rf build rpcver.so tests/tmp
