# Two commands: `make demo` and `make test`. Both create .venv from requirements.lock when it is
# missing or older than the lock, and skip that step when it is current.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
STAMP := $(VENV)/.installed
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export PYSPARK_PYTHON := $(CURDIR)/$(VENV)/bin/python
export AIRFLOW_HOME ?= $(CURDIR)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__UNIT_TEST_MODE := False
export AIRFLOW__CORE__DEFAULT_TIMEZONE := Europe/Copenhagen
export AIRFLOW__CORE__PARALLELISM := $(shell nproc 2>/dev/null || echo 2)

# Infrastructure checks (checkov) in their own environment: their pins conflict with Airflow's.
TOOLS := .venv-tools
TOOLS_STAMP := $(TOOLS)/.installed

# Spark-side jars (delta-spark; hadoop-aws and the AWS SDK for a lake on S3) from Maven Central, pinned with their
# sha256 in jars.lock; fetched here, never at run time. Spark finds them through CDE_JARS_DIR (jobs/common/spark.py).
JARS := .jars
JARS_STAMP := $(JARS)/.installed
JARS_S3_STAMP := $(JARS)/.installed-s3
# the jars a target's Spark needs: the S3A ones too when the lake is in a bucket
LAKE_JARS := $(JARS_STAMP) $(if $(filter s3://%,$(CDE_LAKE)),$(JARS_S3_STAMP))
MVN_DEPENDENCY := org.apache.maven.plugins:maven-dependency-plugin:3.8.1
export CDE_JARS_DIR := $(CURDIR)/$(JARS)

.PHONY: install-s3 demo test share portal airflow lint docs checkov cluster cluster-stop check-java check-python check-npm check-mvn install clean

$(STAMP): requirements.lock pyproject.toml vendor/datadocs/package-lock.json | check-python check-npm
	@echo "Installing the pinned environment into $(VENV) (about 2 minutes on a fresh machine)"
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	@$(VENV)/bin/python -m pip install -q --upgrade pip
	@$(VENV)/bin/python -m pip install -q -r requirements.lock
	@# setuptools warns that an editable install is editable (BuildBackendWarning): nothing to act on
	@PYTHONWARNINGS=ignore $(VENV)/bin/python -m pip install -q --no-deps -e .
	@# Data Docs' scripts and styles, pinned and integrity-checked by the lock, so the pages render offline
	@cd vendor/datadocs && npm ci --ignore-scripts --silent
	@touch $(STAMP)

$(TOOLS_STAMP): requirements-tools.lock | check-python
	@echo "Installing the infrastructure checks (checkov) into $(TOOLS)"
	@test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	@$(TOOLS)/bin/python -m pip install -q --upgrade pip
	@$(TOOLS)/bin/python -m pip install -q -r requirements-tools.lock
	@touch $@

# One group of jars.lock into $(JARS), each checked against its sha256: $(call fetch_jars,<group>)
define fetch_jars
	@mkdir -p $(JARS)
	@grep -v '^#' jars.lock | while read -r coords sha group; do \
	  [ -n "$$coords" ] && [ "$$group" = "$(1)" ] || continue; \
	  IFS=: read -r group_id artifact version <<< "$$coords"; \
	  jar="$(JARS)/$$artifact-$$version.jar"; \
	  test -f "$$jar" || mvn -q -B -C $(MVN_DEPENDENCY):copy -Dartifact="$$coords" -DoutputDirectory=$(JARS) \
	    >$(JARS)/mvn.log 2>&1 || { cat $(JARS)/mvn.log; echo "mvn could not fetch $$coords"; exit 1; }; \
	  echo "$$sha  $$jar" | sha256sum -c --quiet - || { rm -f "$$jar"; echo "checksum of $$jar differs from jars.lock"; exit 1; }; \
	done
	@touch $@
endef

# delta-spark: every Spark job needs it
$(JARS_STAMP): jars.lock | check-mvn
	@echo "Fetching the pinned delta-spark jars (jars.lock) from Maven Central into $(JARS)"
	$(call fetch_jars,delta)

# hadoop-aws and the AWS SDK (about 690 MB): only for a lake on an object store (CDE_LAKE=s3://...) and the S3
# tests; `make install-s3` fetches them, and so does any target run with CDE_LAKE=s3://...
$(JARS_S3_STAMP): jars.lock | check-mvn
	@echo "Fetching the pinned S3A jars (jars.lock; about 690 MB) from Maven Central into $(JARS)"
	$(call fetch_jars,s3)

install-s3: $(JARS_S3_STAMP)

install: $(STAMP) $(TOOLS_STAMP) $(JARS_STAMP)

check-python:
	@test -n "$(PYTHON)" || { echo "Python 3.11 is required: install python3.11"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' || \
	  { echo "Python 3.11 is required, found $$($(PYTHON) --version): set PYTHON=/path/to/python3.11"; exit 1; }

check-mvn:
	@command -v mvn >/dev/null 2>&1 || \
	  { echo "Maven is required to fetch the pinned Spark jars (Debian: apt-get install maven)"; exit 1; }

check-npm:
	@command -v npm >/dev/null 2>&1 || \
	  { echo "npm is required to install the Data Docs assets (Debian: apt-get install npm)"; exit 1; }

JAVA := $(if $(JAVA_HOME),$(JAVA_HOME)/bin/java,java)
check-java:
	@command -v $(JAVA) >/dev/null 2>&1 || \
	  { echo "Java 17 is required by Spark and was not found: install a JDK 17 (Debian: apt-get install openjdk-17-jre-headless) or set JAVA_HOME"; exit 1; }
	@v=$$($(JAVA) -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1); \
	  test "$${v:-0}" -ge 17 || { echo "Java 17 or newer is required by Spark, found Java $$v"; exit 1; }

demo: $(STAMP) $(LAKE_JARS) check-java
	$(VENV)/bin/cde demo

test: $(STAMP) $(TOOLS_STAMP) $(JARS_STAMP) $(JARS_S3_STAMP) check-java
	$(VENV)/bin/python -m pytest

# Airflow UI and scheduler with the project's DAGs on http://127.0.0.1:8080 (prints the login; Ctrl-C stops it).
airflow: $(STAMP) $(LAKE_JARS) check-java
	$(VENV)/bin/cde airflow --port $(or $(PORT),8080)

# Delta Sharing server for buyers' products on http://127.0.0.1:8765/delta-sharing (Ctrl-C stops it).
share: $(STAMP)
	$(VENV)/bin/cde share --port $(or $(PORT),8765)

# The exchange's portal on http://127.0.0.1:8000 (accounts: cde portal init-admin; Ctrl-C stops it).
portal: $(STAMP)
	$(VENV)/bin/cde portal serve --port $(or $(PORT),8000)

lint: $(STAMP)
	$(VENV)/bin/ruff check jobs dags tests bench

# The reference pages of docs/reference/, generated from the registries (tests/test_docs.py fails while one is stale).
docs: $(STAMP)
	$(VENV)/bin/python -m jobs.reference

# A Spark standalone cluster on 127.0.0.1 (a master and two workers, pyspark's own daemons); jobs use it with
# CDE_SPARK_MASTER=spark://127.0.0.1:7077. Logs in .spark/logs.
cluster: $(STAMP) $(LAKE_JARS) check-java
	$(VENV)/bin/python -m jobs.cluster start

cluster-stop: $(STAMP)
	$(VENV)/bin/python -m jobs.cluster stop

# infra/terraform checked offline (checkov; the structural tests run in make test)
checkov: $(TOOLS_STAMP)
	$(TOOLS)/bin/checkov -d infra/terraform --compact --quiet --skip-download

clean:
	rm -rf lake .airflow
