"""``falco-plugin new``: the generated project passes its own tests right away."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

FP = str(Path(sys.executable).with_name("falco-plugin"))
RUFF = str(Path(sys.executable).with_name("ruff"))

# every capability at once, and each capability without a source of its own
PROJECTS = {
    "allcaps": "source,extract,parse,async,listen",
    "opens": "extract",
    "counter": "parse,listen",
    "beat": "async",
}


#: the project created in a folder that holds only the user's virtualenv, found by the Makefile as
#: ./.venv; the others find the virtualenv through $VIRTUAL_ENV, as when it is activated
IN_VENV_FOLDER = "opens"


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, subprocess.CompletedProcess[str]]]:
    """Each project created, then `make test lint build` in it (all at once)."""
    base = tmp_path_factory.mktemp("new")
    running = {}
    for name, caps in PROJECTS.items():
        env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        if name == IN_VENV_FOLDER:
            (base / name).mkdir()
            (base / name / ".venv").symlink_to(sys.prefix)  # this test run's virtualenv
            argv = [FP, "new", name, "--capabilities", caps, "-o", name]
        else:
            env["VIRTUAL_ENV"] = sys.prefix
            argv = [FP, "new", name, "--capabilities", caps]
        created = subprocess.run(argv, cwd=base, capture_output=True, text=True, timeout=60)
        assert created.returncode == 0, created.stderr
        assert created.stdout.startswith(f"created {name}/ (plugin {name}: ")
        running[name] = subprocess.Popen(["make", "test", "lint", "build"], cwd=base / name, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, text=True, env=env)
    results = {}
    for name, proc in running.items():
        out, _ = proc.communicate(timeout=600)
        results[name] = (base / name, subprocess.CompletedProcess(proc.args, proc.returncode, out, ""))
    return results


@pytest.mark.parametrize("name", PROJECTS)
def test_new_project_passes_its_own_tests(projects: dict[str, tuple[Path, subprocess.CompletedProcess[str]]],
                                          name: str) -> None:
    root, result = projects[name]
    assert result.returncode == 0, result.stdout
    assert " passed" in result.stdout and "failed" not in result.stdout, result.stdout
    assert "Success: no issues found" in result.stdout and "All checks passed!" in result.stdout  # make lint
    makefile = (root / "Makefile").read_text()
    assert sys.prefix not in makefile and str(root) not in makefile  # nothing of this machine
    assert ".venv/" in (root / ".gitignore").read_text().splitlines()
    # a field, the config and the rules in real Falco (skipped without one)
    tests = (root / "tests" / "test_plugin.py").read_text()
    assert "def test_a_bad_config_is_refused" in tests and "def test_rules_in_a_real_falco" in tests
    for rel in ("pyproject.toml", f"{name}/plugin.py", "tests/test_plugin.py", "falco.yaml",
                f"rules/{name}_rules.yaml", "README.md", "Makefile"):
        assert (root / rel).is_file(), rel
    assert (root / "build" / f"lib{name}.so").is_file()  # make build
    lint = subprocess.run([RUFF, "check", "--no-cache", "."], cwd=root, capture_output=True, text=True, timeout=60)
    assert lint.returncode == 0, lint.stdout
    info = subprocess.run([FP, "info", f"build/lib{name}.so", "--json"], cwd=root, capture_output=True, text=True,
                          timeout=60)
    assert f'"name": "{name}"' in info.stdout


def test_generated_falco_yaml_and_rules(projects: dict[str, tuple[Path, subprocess.CompletedProcess[str]]]) -> None:
    import yaml

    root, _ = projects["allcaps"]
    conf = yaml.safe_load((root / "falco.yaml").read_text())
    assert conf["load_plugins"] == ["allcaps"]
    assert conf["plugins"][0]["library_path"].endswith("/liballcaps.so")
    assert conf["plugins"][0]["init_config"] == {"count": 100, "interval": 5}
    # no options: no init_config at all (Falco reads `init_config: {}` as null, which a schema refuses)
    plain = yaml.safe_load((projects["counter"][0] / "falco.yaml").read_text())
    assert "init_config" not in plain["plugins"][0]
    rules = yaml.safe_load((root / "rules" / "allcaps_rules.yaml").read_text())
    assert rules[0]["source"] == "allcaps" and "allcaps.n" in rules[0]["condition"]
    opens = yaml.safe_load((projects["opens"][0] / "rules" / "opens_rules.yaml").read_text())
    assert opens[0]["source"] == "syscall" and "opens.path" in opens[0]["condition"]


def test_package_target(projects: dict[str, tuple[Path, subprocess.CompletedProcess[str]]]) -> None:
    """``make package`` of a generated project calls ``falco-plugin package``: a tarball in dist/."""
    root, _ = projects["opens"]
    proc = subprocess.run(["make", "package"], cwd=root, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    tarballs = list((root / "dist").glob("opens-*.tar.gz"))
    assert len(tarballs) == 1, list((root / "dist").iterdir())
    with tarfile.open(tarballs[0]) as tar:
        assert any(name.endswith("/libopens.so") or name == "libopens.so" for name in tar.getnames()), tar.getnames()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["new", "My Plugin"], "invalid plugin name 'My Plugin'"),
        (["new", "x", "--capabilities", "source,magic"], "unknown capabilities ['magic']"),
    ],
)
def test_new_refuses_bad_input(tmp_path: Path, args: list[str], message: str) -> None:
    proc = subprocess.run([FP, *args], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr


def test_new_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    proc = subprocess.run([FP, "new", "x"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "x exists and is not empty (keep.txt): give a new folder, or one that holds only a virtualenv" in proc.stderr
    assert (tmp_path / "x" / "keep.txt").read_text() == "mine"


def test_the_makefile_says_when_no_python_has_the_sdk(tmp_path: Path) -> None:
    subprocess.run([FP, "new", "x", "--capabilities", "extract"], cwd=tmp_path, check=True, capture_output=True)
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    proc = subprocess.run(["make", "test", "PYTHON=/usr/bin/false"], cwd=tmp_path / "x", capture_output=True,
                          text=True, timeout=60, env=env)
    assert proc.returncode != 0
    assert "/usr/bin/false has no falco-plugin: activate the virtualenv you installed it in" in proc.stdout
