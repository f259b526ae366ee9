PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test fuzz lint bench clean catalogs catalogs-web docs docs-serve screenshots

$(BIN)/activate:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml $(BIN)/activate
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(BIN)/activate
	$(BIN)/pip install -q -e '.[test]'
	touch $@

$(VENV)/.installed-bench: pyproject.toml $(BIN)/activate
	$(BIN)/pip install -q -e '.[test,bench]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/bulkprov demo

test: $(VENV)/.installed-test
	$(BIN)/ruff check bulkprov tests bench docs
	$(BIN)/pytest -q

# A longer, randomised run of the readers' fuzz suite (20x the CI examples; not in CI). Failing files
# are saved under fuzz-failures/: add them to tests/corpus/ with a line in its README.
fuzz: $(VENV)/.installed-test
	BULKPROV_FUZZ=nightly BULKPROV_FUZZ_SAVE=fuzz-failures $(BIN)/pytest -q -p no:cacheprovider tests/io/test_fuzz.py

bench: $(VENV)/.installed-bench
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .bulkprov build site *.egg-info

# The guide (mkdocs.yml, docs/): MkDocs + Material for MkDocs, built into site/ with --strict (a broken link
# or a page left out of the nav fails it, as tests/test_guide.py does). Generated tables: python -m bulkprov._docs.
docs: $(VENV)/.installed-test
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

docs-serve: $(VENV)/.installed-test
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

# The guide's screenshots (docs/*.png), English, Korean and Japanese, from the page driven in chromium.
screenshots: $(VENV)/.installed-test
	$(BIN)/python docs/screenshots.py

# Translations of the `bulkprov` gettext domain (ko, ja): extract the marked strings (babel.cfg), merge
# them into each language's .po (new ones untranslated, changed ones fuzzy), compile the .mo files the
# wheel ships. The .mo files are committed; tests/test_i18n.py fails when one is stale or incomplete.
LOCALES := bulkprov/locale
catalogs: $(VENV)/.installed-test
	$(BIN)/pybabel extract -F babel.cfg --project=bulkprov --version=0.1.0 --no-wrap --sort-by-file \
		--add-location=file -o $(LOCALES)/bulkprov.pot bulkprov
	for lang in ko ja; do \
		[ -f $(LOCALES)/$$lang/LC_MESSAGES/bulkprov.po ] || $(BIN)/pybabel init -D bulkprov -l $$lang \
			-i $(LOCALES)/bulkprov.pot -d $(LOCALES); \
	done
	$(BIN)/pybabel update -D bulkprov -i $(LOCALES)/bulkprov.pot -d $(LOCALES) --no-wrap --ignore-obsolete
	$(BIN)/pybabel compile -D bulkprov -d $(LOCALES) --statistics

# Gettext domain "web" (the page: bulkprov/web/ Python and templates): extract, update ko/ja, compile.
# The compiled .mo files are committed (a clean clone's `make test` uses them; a test fails when one is stale).
WEB_POT := bulkprov/locale/web.pot
catalogs-web: $(VENV)/.installed-test
	$(BIN)/pybabel -q extract -F bulkprov/web/babel.cfg --add-location=file --sort-output --no-wrap \
		--project=bulkprov --copyright-holder="bulkprov authors" -c TRANSLATORS: -o $(WEB_POT) bulkprov/web
	for lang in ko ja; do \
		if [ -f bulkprov/locale/$$lang/LC_MESSAGES/web.po ]; then \
			$(BIN)/pybabel -q update -D web -i $(WEB_POT) -d bulkprov/locale -l $$lang --no-wrap --ignore-obsolete; \
		else \
			$(BIN)/pybabel -q init -D web -i $(WEB_POT) -d bulkprov/locale -l $$lang --no-wrap; \
		fi; \
	done
	$(BIN)/pybabel -q compile -D web -d bulkprov/locale --statistics
