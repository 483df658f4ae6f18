"""A fresh clone passes its tests with nothing beside it: the tests and benchmarks read the
data the package ships (sitroom.testing.samples), never a folder next to the repository, and
the samples are the files their notices describe. sitroom.testing is for tests only: no other
sitroom module imports it, and importing it costs no test framework."""

from __future__ import annotations

import ast
import hashlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sitroom.testing import samples

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "sitroom"

# Ways a file could reach for the data share beside the repository (its name spelled in
# pieces, so that neither this file nor a search of the tree finds it here).
SHARE = "sha" + "red"
OUTSIDE = [
    re.escape("../" + SHARE),
    re.escape("parents[2]") + r"\s*/\s*[\"']" + SHARE,
    r"[\"']" + SHARE + r"[\"']\s*/\s*[\"']data[\"']",
    r"\b" + SHARE + r"_data\b",
]
TEXT = {".py", ".md", ".toml", ".yaml", ".yml", ".cfg", ".ini", ".txt", ".json", ".sh", ""}


def references(root: Path) -> list[str]:
    """Every line under root's tests/ and bench/ that reaches outside the repository."""
    found = []
    for top in ("tests", "bench"):
        for path in sorted((root / top).rglob("*")):
            rel = path.relative_to(root)
            if not path.is_file() or path.suffix not in TEXT or rel.parts[:2] == ("bench", "out"):
                continue
            if rel == Path("tests", Path(__file__).name):
                continue  # this file plants the very lines it looks for
            for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                if any(re.search(p, line) for p in OUTSIDE):
                    found.append(f"{rel}:{n}: {line.strip()}")
    return found


def test_no_test_or_benchmark_reads_data_from_beside_the_repository() -> None:
    assert references(ROOT) == []


@pytest.mark.parametrize(
    "line",
    [
        f'DATA = Path(__file__).resolve().parents[2] / "{SHARE}" / "data"\n',
        f"rows = open('../{SHARE}/data/ucdp-ged-sample/ucdpged_sample.csv')\n",
        f"def ws(tmp_path, {SHARE}_data):\n",
        f'base = ROOT.parent / "{SHARE}" / "data"\n',
    ],
)
def test_a_planted_reference_is_found(tmp_path: Path, line: str) -> None:
    for top in ("tests", "bench"):
        (tmp_path / top).mkdir()
        (tmp_path / top / "fine.py").write_text("from sitroom.testing import samples\n")
    (tmp_path / "bench" / "bad.py").write_text(line)
    (found,) = references(tmp_path)
    assert found.startswith("bench/bad.py:1:")


# the samples ------------------------------------------------------------------------------
def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_samples_are_the_files_the_notice_describes() -> None:
    notice = (SRC / "data" / "demo" / "NOTICE.md").read_text()
    files = [*samples.GDELT_V2_FILES, *samples.GDELT_V1_FILES, samples.UCDP_FILE]
    assert [f.name for f in samples.GDELT_V2_FILES] == [
        "20151027220000.export.CSV",
        "20190121220000.export.CSV",
        "20191024143000.export.CSV",
    ]
    for f in files:
        assert f.is_file() and sha256(f) in notice, f.name
    # DataHub datasets/country-codes @ caa72d1e (data/lookups/NOTICE.md), 249 countries.
    assert (
        sha256(samples.COUNTRY_CODES_FILE)
        == "67b009b529330b0a6043551189f43faa785c9c3cc0011ad2bdb4eac876356c43"
    )


def test_a_file_the_package_does_not_ship_is_refused() -> None:
    with pytest.raises(FileNotFoundError, match=r"ships no data/demo/nothing\.csv"):
        samples.demo_file("nothing.csv")


# sitroom.testing --------------------------------------------------------------------------
def test_no_other_sitroom_module_imports_sitroom_testing() -> None:
    importers = []
    for path in sorted(SRC.rglob("*.py")):
        if path.is_relative_to(SRC / "testing"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            if any(n == "sitroom.testing" or n.startswith("sitroom.testing.") for n in names):
                importers.append(str(path.relative_to(SRC)))
    assert importers == []


def test_importing_sitroom_testing_costs_no_test_framework() -> None:
    """The fakes and make_record come without pytest or hypothesis; the suites load them."""
    code = (
        "import sys; import sitroom.testing as t; t.make_record(1); t.MemoryWire();"
        "print(sorted(m for m in ('pytest', 'hypothesis') if m in sys.modules));"
        "t.LogContract; print('pytest' in sys.modules)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.split() == ["[]", "True"]


def test_the_public_names_of_sitroom_testing_resolve() -> None:
    import sitroom.testing as t

    assert len(set(t.__all__)) == len(t.__all__)
    for name in t.__all__:
        value = getattr(t, name)
        assert getattr(value, "__module__", "sitroom").startswith("sitroom"), name
    with pytest.raises(AttributeError):
        t.NoSuchContract  # noqa: B018
