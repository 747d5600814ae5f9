# personalize: PGXS build plus the project's two commands, `make demo` and `make test`.
EXTENSION   = personalize
EXTVERSION  = 0.2
# The pg_config of the server to build for: the one on PATH, else name it, e.g. on Debian
# make PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
PG_CONFIG  ?= pg_config

# The install script is assembled from one SQL file per module (src/<stage>/<module>.sql) in
# this order, a dependency order: each module comes after every module whose tables, views,
# types or functions it names, so every statement, and every function body when first called,
# finds what it uses already created. Where two modules use each other (from PL/pgSQL bodies,
# which PostgreSQL binds at their first call), one of them must come first: test/suites/install_order
# checks the order and lists those few calls. (A module that adds columns to another's table,
# as scoring adds the live state to profiles, comes before the modules that read them.)
SQL_MODULES = core/schema_setup core/checks core/hash profile/profile audience/audience profile/consent ingest/schema \
              scoring/decay scoring/interest scoring/rfm scoring/scoring segment/segment ingest/ingest \
              ingest/partition profile/identity profile/privacy render/render render/templates core/roles \
              ingest/retention predict/clv predict/recommend predict/vectors predict/cluster predict/lookalike send/outbox send/links send/campaign send/policy send/queue send/feedback \
              send/grants send/settle experiment/statistics experiment/experiment experiment/outcomes experiment/metrics experiment/launch \
              experiment/report send/profile_data journey/journey journey/run journey/profile_data predict/profile_data journey/example journey/simulate profile/by_user_id core/config_restore
# Modules first shipped in 0.2: the upgrade from 0.1 creates them whole, after the hand-written
# changes to 0.1's objects in releases/personalize--0.1--0.2.sql.
NEW_IN_0_2  = ingest/retention predict/clv predict/recommend predict/vectors predict/cluster predict/lookalike send/outbox send/links send/campaign send/policy send/queue send/feedback send/grants send/settle \
              experiment/statistics experiment/experiment experiment/outcomes experiment/metrics experiment/launch experiment/report \
              send/profile_data journey/journey journey/run journey/profile_data predict/profile_data journey/example journey/simulate profile/by_user_id core/config_restore

# Released install scripts are frozen in releases/; every later version adds an upgrade script.
MODULE_big  = personalize
OBJS        = $(patsubst %.c,%.o,$(wildcard src/*/*.c src/render/liquid/*.c))
DATA        = releases/$(EXTENSION)--0.1.sql
DATA_built  = $(EXTENSION)--$(EXTVERSION).sql $(EXTENSION)--0.1--0.2.sql
PG_CPPFLAGS = -I$(srcdir)/src
# WERROR=-Werror turns warnings into errors: make test (test/run) and CI build so; a user's plain
# make does not, so that a newer compiler's new warning does not stop an install.
WERROR     ?=
PG_CFLAGS   = -Wall -Wextra $(WERROR) -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare
SHLIB_LINK  = -lroaring

# make installcheck: the pg_regress files (sql/, expected/) and isolation specs (specs/) against a
# running server where the extension is installed; the server needs pg_cron preloaded with
# cron.database_name = 'contrib_regression' (test/regress.conf), as sql/segments.sql creates it.
REGRESS     = $(sort $(basename $(notdir $(wildcard sql/*.sql))))
ISOLATION   = $(sort $(basename $(notdir $(wildcard specs/*.spec))))
EXTRA_CLEAN = .warning-flags

PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(PGXS),)
include $(PGXS)
# PGXS tracks no header dependencies: an object is rebuilt when any project header changes (a
# changed struct in liquid.h otherwise links old and new layouts together)
$(OBJS): $(wildcard src/*/*.h src/render/liquid/*.h)
else
all:
	@echo "no PostgreSQL server headers through PG_CONFIG=$(PG_CONFIG): install postgresql-server-dev-15 (or run 'make test' or 'make demo', which do), or name its pg_config: make PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config" >&2; exit 1
endif

# The objects are rebuilt when WERROR changes, so that make test checks a tree a plain make built.
.warning-flags: FORCE
	@echo '$(WERROR)' | cmp -s - $@ || echo '$(WERROR)' > $@
$(OBJS): .warning-flags
.PHONY: FORCE

# Concatenates SQL files behind the \echo guard that refuses a script sourced in psql.
assemble = { echo '-- complain if script is sourced in psql, rather than via CREATE EXTENSION'; \
	  printf '%s\n' '\echo Use "$(1)" to load this file. \quit'; \
	  for f in $(2); do echo; echo "-- ---- $$f"; cat $$f; done; } > $@

$(EXTENSION)--$(EXTVERSION).sql: $(foreach m,$(SQL_MODULES),src/$(m).sql) Makefile
	$(call assemble,CREATE EXTENSION personalize,$(foreach m,$(SQL_MODULES),src/$(m).sql))

$(EXTENSION)--0.1--0.2.sql: releases/$(EXTENSION)--0.1--0.2.sql $(foreach m,$(NEW_IN_0_2),src/$(m).sql) Makefile
	$(call assemble,ALTER EXTENSION personalize UPDATE TO '0.2',releases/$(EXTENSION)--0.1--0.2.sql $(foreach m,$(NEW_IN_0_2),src/$(m).sql))

# The reference ESP consumer (sender/, docs/sender.md): a program of its own linking libpq and
# libcurl, built by make and installed by make install into the PostgreSQL bin directory.
SENDER_SRCS  = $(filter-out sender/message_check.c,$(wildcard sender/*.c))
SENDER_FLAGS = -O2 -g -Wall -Wextra $(WERROR) -pthread -I$(shell $(PG_CONFIG) --includedir)
SENDER_LIBS  = -L$(shell $(PG_CONFIG) --libdir) -lpq -lcurl -pthread
# (only where sender/ is: some suites build a copy of src/ alone)
ifneq ($(PGXS),)
ifneq ($(SENDER_SRCS),)
all: sender/personalize-sender
install: install-sender
endif
endif
sender/personalize-sender: $(SENDER_SRCS) $(wildcard sender/*.h) .warning-flags
	$(CC) $(SENDER_FLAGS) -o $@ $(SENDER_SRCS) $(SENDER_LIBS)
# The message builder alone, for test/suites/sender_message.
sender/message_check: sender/message_check.c sender/message.c sender/json.c sender/strbuf.c $(wildcard sender/*.h)
	$(CC) $(SENDER_FLAGS) -o $@ $(filter %.c,$^)
.PHONY: install-sender
install-sender: sender/personalize-sender
	$(MKDIR_P) '$(DESTDIR)$(bindir)'
	$(INSTALL_PROGRAM) sender/personalize-sender '$(DESTDIR)$(bindir)/personalize-sender'
EXTRA_CLEAN += sender/personalize-sender sender/message_check

FUZZ_SECONDS ?= 60

# Every C file of the project is in the style of .clang-format (make format formats, make
# format-check checks; test/suites/c_style runs the check in make test).
FORMATTED    = $(shell git ls-files '*.c' '*.h' 2>/dev/null || find src sender fuzz test bench -name '*.[ch]')
CLANG_FORMAT ?= clang-format

.PHONY: test demo bench deps fuzz fuzz-audience fuzz-schema fuzz-rule fuzz-journey format format-check
deps:
	@test/deps
test:
	@test/run
demo:
	@test/demo
bench:
	@bench/run
# libFuzzer (clang, ASan, UBSan) on the Liquid parser and renderer for FUZZ_SECONDS (fuzz/run).
fuzz:
	@fuzz/run liquid $(FUZZ_SECONDS)
# libFuzzer (clang, ASan, UBSan) on the audience text parser and serialization reader for FUZZ_SECONDS.
fuzz-audience:
	@fuzz/run audience $(FUZZ_SECONDS)

# libFuzzer on the cores of the JSON Schema subset, the segment rule compiler and the journey
# definition checker (fuzz/README.md).
fuzz-schema:
	@fuzz/run schema $(FUZZ_SECONDS)

fuzz-rule:
	@fuzz/run rule $(FUZZ_SECONDS)

fuzz-journey:
	@fuzz/run journey $(FUZZ_SECONDS)
# Formats every C file as .clang-format says.
format:
	$(CLANG_FORMAT) -i $(FORMATTED)
# Checks that every C file is formatted as .clang-format says.
format-check:
	$(CLANG_FORMAT) --dry-run --Werror $(FORMATTED)
