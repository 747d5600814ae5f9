# personalize: PGXS build plus the project's two commands, `make demo` and `make test`.
EXTENSION   = personalize
EXTVERSION  = 0.1
PG_CONFIG  ?= /usr/lib/postgresql/15/bin/pg_config

# The install script is assembled from one SQL file per module, in dependency order.
SQL_MODULES = schema_setup hash profile consent schema ingest decay rfm scoring interest identity privacy render templates partition audience segment roles
MODULE_big  = personalize
OBJS        = $(patsubst %.c,%.o,$(wildcard src/*.c)) $(patsubst %.c,%.o,$(wildcard src/liquid/*.c))
DATA_built  = $(EXTENSION)--$(EXTVERSION).sql
PG_CFLAGS   = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare
SHLIB_LINK  = -lroaring

PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(PGXS),)
include $(PGXS)
else
all:
	@echo "PostgreSQL 15 server headers are missing: run 'make test' or 'make demo', which install them" >&2; exit 1
endif

$(EXTENSION)--$(EXTVERSION).sql: $(foreach m,$(SQL_MODULES),src/$(m).sql) Makefile
	{ echo '-- complain if script is sourced in psql, rather than via CREATE EXTENSION'; \
	  printf '%s\n' '\echo Use "CREATE EXTENSION personalize" to load this file. \quit'; \
	  for f in $(foreach m,$(SQL_MODULES),src/$(m).sql); do echo; echo "-- ---- $$f"; cat $$f; done; } > $@

FUZZ_SECONDS ?= 60

.PHONY: test demo bench deps fuzz fuzz-audience
deps:
	@test/deps
test:
	@test/run
demo:
	@test/demo
bench:
	@bench/run
# libFuzzer (clang, ASan, UBSan) on the Liquid parser and renderer for FUZZ_SECONDS; build in fuzz/build.
fuzz:
	$(MAKE) -f src/liquid/Makefile.standalone BUILD=fuzz/build FUZZ_SECONDS=$(FUZZ_SECONDS) fuzz
# libFuzzer (clang, ASan, UBSan) on the audience text parser and serialization reader for FUZZ_SECONDS.
fuzz-audience:
	@fuzz/run_audience_fuzz $(FUZZ_SECONDS)
