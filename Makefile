# personalize: PGXS build plus the README's two commands, `make test` and `make demo`.

EXTENSION  = personalize
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" personalize.control)

MODULE_big = personalize
# src/ by room, in the order data flows: types, consent, model, privacy, serving, jobs, rights.
OBJS = \
	src/personalize.o \
	src/types/embedding.o \
	src/types/embedding_ops.o \
	src/types/embedding_agg.o \
	src/types/embedding8.o \
	src/types/distance.o \
	src/consent/consent.o \
	src/consent/privileged.o \
	src/consent/purpose.o \
	src/consent/visibility.o \
	src/consent/consent_store.o \
	src/consent/consent_changes.o \
	src/consent/protected.o \
	src/consent/guard.o \
	src/consent/estimates.o \
	src/model/metrics.o \
	src/model/matrix.o \
	src/model/train_als.o \
	src/model/train_knn.o \
	src/model/dense.o \
	src/model/train_ease.o \
	src/model/train.o \
	src/model/tune.o \
	src/model/train_categories.o \
	src/model/train_progress.o \
	src/model/model_store.o \
	src/model/foldin.o \
	src/privacy/dp.o \
	src/privacy/dp_fit.o \
	src/privacy/dp_models.o \
	src/privacy/mia.o \
	src/serving/serving_shmem.o \
	src/serving/serving_versions.o \
	src/serving/serving_build.o \
	src/serving/request.o \
	src/serving/rank.o \
	src/serving/recommend.o \
	src/serving/impressions.o \
	src/serving/explain.o \
	src/jobs/job_settings.o \
	src/jobs/worker_shmem.o \
	src/jobs/launcher.o \
	src/jobs/scheduler.o \
	src/jobs/worker_hooks.o \
	src/jobs/drift.o \
	src/jobs/drift_measure.o \
	src/rights/subject_key.o
SRC_DIRS = src src/types src/consent src/model src/privacy src/serving src/jobs src/rights

# The install script is assembled from one file per concern under sql/install/;
# each upgrade script from the files under sql/upgrade/personalize--OLD--NEW/.  The install
# scripts of released versions are kept verbatim in sql/released/, so that
# `CREATE EXTENSION personalize VERSION 'OLD'` and the update path can be tested.
INSTALL_PARTS = $(sort $(wildcard sql/install/*.sql))
UPGRADE_DIRS = $(sort $(wildcard sql/upgrade/personalize--*--*))
UPGRADE_SCRIPTS = $(patsubst sql/upgrade/%,%.sql,$(UPGRADE_DIRS))
DATA_built = personalize--$(EXTVERSION).sql $(UPGRADE_SCRIPTS)
DATA = $(wildcard sql/released/personalize--*.sql)

REGRESS = embedding_io embedding_ops embedding_agg embedding8 embedding_fuzz consent_type consent_rls consent_attacks consent_protect consent_ledger consent_layout consent_store metrics models models_ease recommend consent_side_channels jobs drift rights errors privacy_mia privacy_dp catalog_dump catalog_comments
REGRESS_OPTS = --inputdir=. --load-extension=personalize

EXTRA_CLEAN = $(DATA_built) results regression.diffs regression.out

# Headers are included by name, from any room.  The library refuses to read
# the registry of a database at another version.
PG_CPPFLAGS = $(addprefix -I,$(SRC_DIRS)) -DPZ_EXTVERSION=\"$(EXTVERSION)\"

# JIT bitcode would add a clang dependency for no measurable gain here.
override with_llvm = no

PG_CONFIG ?= $(shell tools/find-pg-config.sh)
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
# On a machine without PostgreSQL yet, only `make test` / `make demo` work:
# they install it first.
ifneq ($(wildcard $(PGXS)),)
include $(PGXS)
endif

# Only the distance kernels get the loose floating-point flags that let the
# compiler reassociate sums into SIMD lanes; parsing and arithmetic stay exact.
# PGXS tracks no header dependencies: every object depends on every header
# (the build is small), so a changed struct never links against stale code.
$(OBJS): $(foreach d,$(SRC_DIRS),$(wildcard $(d)/*.h))
# the library names the version it serves (PZ_EXTVERSION)
src/jobs/scheduler.o src/consent/purpose.o: personalize.control
# row_visible() runs once per row and calls into the server for the role and
# the statement; without the PLT those are direct calls through the GOT.
src/consent/visibility.o: override CFLAGS += -fno-plt
src/types/distance.o: override CFLAGS += -ftree-vectorize -fassociative-math -fno-signed-zeros -fno-trapping-math -ffp-contract=off -Wno-psabi

personalize--$(EXTVERSION).sql: $(INSTALL_PARTS) personalize.control Makefile
	{ printf '%s\n' '-- Generated from sql/install/*.sql; edit those files instead.' \
	    '\echo Use "CREATE EXTENSION personalize" to load this file. \quit'; \
	  for f in $(INSTALL_PARTS); do printf '\n-- ---- %s\n' "$$f"; cat "$$f"; done; } > $@

.SECONDEXPANSION:
personalize--%.sql: $$(sort $$(wildcard sql/upgrade/personalize--$$*/*.sql)) Makefile
	{ printf '%s\n' '-- Generated from sql/upgrade/personalize--$*/*.sql; edit those files instead.' \
	    '\echo Use "ALTER EXTENSION personalize UPDATE" to load this file. \quit'; \
	  for f in $(sort $(wildcard sql/upgrade/personalize--$*/*.sql)); do printf '\n-- ---- %s\n' "$$f"; cat "$$f"; done; } > $@

.PHONY: test demo bench

# Each installs what it needs, builds, installs, runs a throwaway cluster and cleans up.
test:
	tools/test.sh

demo:
	tools/demo.sh

bench:
	tools/bench.sh

print-regress:
	@echo $(REGRESS)
