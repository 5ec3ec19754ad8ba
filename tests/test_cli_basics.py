"""The CLI shell: version, help, and lazy imports of heavy modules."""

import subprocess
import sys

from typer.testing import CliRunner

from jbt import __version__
from jbt.cli import app


def test_version():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"jbt {__version__}"


def test_help_does_not_import_heavy_modules():
    code = (
        "import sys; from jbt.cli import app; "
        "heavy = [m for m in ('ccxt', 'pandas', 'fastapi', 'plotly', 'uvicorn') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_python_dash_m_runs():
    out = subprocess.run(
        [sys.executable, "-m", "jbt", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"jbt {__version__}"
