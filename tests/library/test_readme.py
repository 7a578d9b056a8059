"""The README's first example prints the number the README states."""
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_first_example_prints_the_stated_number(tmp_path):
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## A first example"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    stated = re.search(r"It prints `([^`]+)`", section).group(1)
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         cwd=tmp_path, timeout=300, env={"OPENBLAS_NUM_THREADS": "1",
                                                         "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == stated
