# Los comandos del cuaderno de trabajo vpc2. Los dos principales: `make lab` y `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.vpc2-instalado
N_WORKERS ?= 2

.PHONY: setup lab test test-min check-clean check-export check-alumnos alumnos pytest nbtest nbtest-full nbtest-alumnos docs-proc bench docs outputs clean-docs

## setup: crea .venv e instala vpc2 con sus extras de desarrollo (rápido si ya está hecho)
setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

# JupyterLab en castellano: tools/jupyterlab/overrides.json fija el idioma (el paquete de idioma viene en el extra dev)
LAB_FLAGS := --notebook-dir=nbs --LabApp.app_settings_dir=$(CURDIR)/tools/jupyterlab $(if $(filter 0,$(shell id -u)),--allow-root)

## lab: prepara el entorno y abre JupyterLab en castellano en nbs/
lab: setup
	$(BIN)/jupyter lab $(LAB_FLAGS) $(LAB_ARGS)

## test: la verificación completa (la misma que corre la integración continua)
test: setup check-clean check-export check-alumnos pytest nbtest nbtest-alumnos docs-proc
	@echo "make test: todo en orden."

# Huella de un conjunto de archivos, para ver si un comando los cambió.
nb_hash = find nbs -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' | sort | xargs sha1sum
lib_hash = find vpc2 -name '*.py' | sort | xargs sha1sum
alumnos_hash = find alumnos -name '*.ipynb' 2>/dev/null | sort | xargs -r sha1sum

## test-min: las pruebas de la biblioteca con las versiones mínimas que declara pyproject.toml de las dependencias
## de Python puro (tools/min_constraints.py; torch y las compiladas, como las resuelva pip), en .venv-min
VENV_MIN ?= .venv-min
test-min:
	@test -x $(VENV_MIN)/bin/python || $(PYTHON) -m venv $(VENV_MIN)
	$(VENV_MIN)/bin/python tools/min_constraints.py > $(VENV_MIN)/minimos.txt
	$(VENV_MIN)/bin/python -m pip install --quiet --upgrade pip
	$(VENV_MIN)/bin/python -m pip install --quiet -e ".[dev]" -c $(VENV_MIN)/minimos.txt
	$(VENV_MIN)/bin/python -m pip check
	$(VENV_MIN)/bin/python -m pytest -q tests

check-clean: setup
	@before=$$($(nb_hash)); $(BIN)/nbdev-clean; after=$$($(nb_hash)); \
	if [ "$$before" != "$$after" ]; then \
	  echo "ERROR: los cuadernos no estaban limpios. nbdev-clean acaba de limpiarlos: revisá 'git diff nbs' y confirmá el cambio."; exit 1; \
	else echo "nbdev-clean: cuadernos limpios."; fi

check-export: setup
	@before=$$($(lib_hash)); $(BIN)/nbdev-export; after=$$($(lib_hash)); \
	if [ "$$before" != "$$after" ]; then \
	  echo "ERROR: vpc2/ no estaba sincronizado con los cuadernos. nbdev-export acaba de regenerarlo: revisá 'git diff vpc2' y confirmá el cambio."; exit 1; \
	else echo "nbdev-export: vpc2/ sincronizado con los cuadernos."; fi

## alumnos: escribe la edición para estudiantes en alumnos/ (sin soluciones ni celdas internas; la que abre Colab)
alumnos: setup
	$(BIN)/python -c "from vpc2.ejercicios import write_student_edition; write_student_edition('nbs', 'alumnos')"

check-alumnos: setup
	@before=$$($(alumnos_hash)); $(BIN)/python -c "from vpc2.ejercicios import write_student_edition; write_student_edition('nbs', 'alumnos')"; \
	after=$$($(alumnos_hash)); \
	if [ "$$before" != "$$after" ]; then \
	  echo "ERROR: alumnos/ no estaba al día con los cuadernos. Acabo de regenerarla: revisá 'git status alumnos' y confirmá el cambio."; exit 1; \
	else echo "alumnos/: la edición para estudiantes está al día."; fi

pytest: setup
	$(BIN)/python -m pytest -q tests

## nbtest: corre todos los cuadernos en modo rápido e informa el tiempo de cada uno
nbtest: setup
	@start=$$(date +%s); OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(BIN)/nbdev-test --n-workers $(N_WORKERS) --timing && \
	echo "nbdev-test (modo rápido): $$(( $$(date +%s) - start )) s en total"

## nbtest-full: todos los cuadernos con la configuración del modo completo, en corrida de humo (cada bucle de
## entrenamiento cortado a un par de lotes) y sin red: prueba en minutos lo que corre cada estudiante
nbtest-full: setup
	@start=$$(date +%s); VPC2_MODE=full VPC2_SMOKE=1 VPC2_OFFLINE=1 OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} \
	$(BIN)/nbdev-test --n-workers $(N_WORKERS) --timing && \
	echo "nbdev-test (modo completo, humo): $$(( $$(date +%s) - start )) s en total"

## nbtest-alumnos: la edición para estudiantes como la abre un estudiante: desde la wheel, sin extras ni red, cada cuaderno
## solo en una carpeta vacía, en modo completo con corrida de humo; cada ejercicio debe quedar "pendiente"
nbtest-alumnos: setup
	@N_WORKERS=$(N_WORKERS) $(BIN)/python tools/run_alumnos.py

## docs-proc: el paso de procesamiento de nbdev previo a Quarto (sin Quarto)
docs-proc: setup
	$(BIN)/python tools/docs_check.py

## bench: mediciones de velocidad (cocientes medidos lado a lado en una sola corrida)
bench: setup
	@for f in bench/*.py; do [ -e "$$f" ] || continue; echo "== $$f"; VPC2_FAST=$${VPC2_FAST-0} $(BIN)/python "$$f" || exit 1; done

## docs: arma el sitio con Quarto si está instalado; si no, una vista previa local en _preview/ (sin red)
docs: setup
	@if command -v quarto >/dev/null 2>&1; then $(BIN)/nbdev-docs; \
	else echo "Quarto no está instalado (https://quarto.org/docs/get-started/): armo la vista previa local en _preview/."; \
	$(BIN)/python tools/docs_check.py && $(BIN)/python tools/preview.py; fi

## outputs: ejecuta los cuadernos y guarda sus resultados (figuras, tablas, números) para GitHub, Colab y el sitio.
## Modo rápido por defecto; `VPC2_MODE=full make outputs` en una máquina con GPU; `NB=nbs/04_convolucion.ipynb` uno solo.
outputs: setup
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(BIN)/nbdev-test --n-workers $(N_WORKERS) --timing --save $(NB)
	$(BIN)/python tools/shrink_outputs.py $(NB)
	$(BIN)/nbdev-clean
