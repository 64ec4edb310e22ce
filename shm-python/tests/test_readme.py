"""The README's Python example runs as shown."""

import os
import re
import subprocess
import sys

README = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "README.md")


def test_readme_python_example(tmp_path):
    with open(README, encoding="utf-8") as f:
        text = f.read()
    section = text[text.index("\n## Python\n") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    script = tmp_path / "example.py"
    script.write_text(code)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [w for i in range(100) for w in ("msg", str(i))]
