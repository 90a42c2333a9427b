"""vpc2.proyecto: el registro de experimentos sobrevive a cortes y a otra sesión, el esqueleto del proyecto corre de
punta a punta en modo rápido, y los ejercicios del cuaderno 15 rechazan respuestas equivocadas."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from vpc2.ejercicios import run_exercise
from vpc2.proyecto import ExperimentLog, new_project


def test_log_survives_a_crash_and_a_rerun(tmp_path):
    log = ExperimentLog(tmp_path/"exp")
    log.record("a", {"lr": 1e-2}, 0, {"exactitud": 0.5})
    (tmp_path/"exp"/"9999-roto.json.tmp").write_text('{"name": "a", "metr')     # escritura cortada a la mitad
    log.record("a", {"lr": 1e-2}, 0, {"exactitud": 0.7})                         # la misma corrida, otra vez
    again = ExperimentLog(tmp_path/"exp")                                        # otra sesión, la misma carpeta
    assert [r["metrics"]["exactitud"] for r in again.runs()] == [0.5, 0.7]
    s = again.summary()
    assert s.loc["a", "n"] == 1 and abs(s.loc["a", "exactitud_mean"] - 0.7) < 1e-12   # la misma semilla cuenta una vez: la última
    again.record("a", {"lr": 1e-2}, 1, {"exactitud": 0.9})
    s = again.summary()
    assert s.loc["a", "n"] == 2 and abs(s.loc["a", "exactitud_mean"] - 0.8) < 1e-12
    assert abs(s.loc["a", "exactitud_std"] - np.std([0.5, 0.7], ddof=1)) < 1e-12


def test_log_record_holds_what_the_issue_asks(tmp_path):
    path = ExperimentLog(tmp_path).record("b", {"épocas": 3}, 2, {"exactitud": 0.9, "pérdida": 0.3})
    run = json.loads(path.read_text())
    assert {"name", "config", "seed", "metrics", "time", "banner", "environment"} <= set(run)
    assert run["seed"] == 2 and run["config"] == {"épocas": 3} and run["banner"].startswith("Resultados producidos")
    with pytest.raises(ValueError, match="números"): ExperimentLog(tmp_path).record("b", {}, 0, {"exactitud": None})


def test_new_project_refuses_a_non_empty_folder(tmp_path):
    (tmp_path/"ocupada").mkdir()
    (tmp_path/"ocupada"/"nota.txt").write_text("mío")
    with pytest.raises(FileExistsError, match="no está vacía"):
        new_project(tmp_path/"ocupada", "t", ["Ana", "Bruno"])
    assert (tmp_path/"ocupada"/"nota.txt").read_text() == "mío"
    folder = new_project(tmp_path/"nueva", "Título", ["Ana", "Bruno"])
    assert folder == tmp_path/"nueva"
    assert sorted(p.name for p in folder.iterdir()) == [".gitignore", "README.md", "informe.ipynb"]


def test_skeleton_notebook_runs_in_fast_mode(tmp_path):
    folder = new_project(tmp_path/"proyecto", "Prueba", ["Ana", "Bruno"])
    env = {**os.environ, "VPC2_FAST": "1", "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "VPC2_OFFLINE": "1"}
    env.pop("VPC2_SMOKE", None)
    result = subprocess.run([sys.executable, "-m", "nbconvert", "--to", "notebook", "--execute", "--inplace",
                             "--ExecutePreprocessor.timeout=300", str(folder/"informe.ipynb")],
                            cwd=folder, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    nb = json.loads((folder/"informe.ipynb").read_text())
    assert not [o for c in nb["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert len(ExperimentLog(folder/"experimentos").runs()) == 2


def test_exercises_reject_wrong_answers():
    population_std = lambda v: (float(np.mean(v)), float(np.std(v)))
    only_mean = lambda v: float(np.mean(v))
    for wrong in (population_std, only_mean):
        r = run_exercise("15.1", wrong)
        assert not r.passed and "caso" in r.message
    def normal_interval(values, level=0.95):                 # z de la normal en lugar de la t de Student
        from scipy import stats
        v = np.asarray(values, float); h = stats.norm.ppf((1 + level) / 2) * v.std(ddof=1) / np.sqrt(len(v))
        return float(v.mean() - h), float(v.mean() + h)
    for wrong in (normal_interval, lambda values, level=0.95: (0.0, 1.0)):
        assert not run_exercise("15.2", wrong).passed
    def unsorted_population(records):
        groups = {}
        for r in records: groups.setdefault(r["name"], []).append(r["accuracy"])
        return {k: (len(v), float(np.mean(v)), float(np.std(v))) for k, v in groups.items()}
    for wrong in (unsorted_population, lambda records: {}):
        assert not run_exercise("15.3", wrong).passed
