"""`.ci/run` is what CI runs in a fresh clone: it must parse, and its one test command must be `make test`."""

from __future__ import annotations

import subprocess

from tests.deploy.test_deployable import PROJECT_ROOT

CI_RUN = PROJECT_ROOT / ".ci" / "run"


def test_the_ci_script_parses_and_ends_by_running_make_test():
    parsed = subprocess.run(["bash", "-n", str(CI_RUN)], capture_output=True, text=True, timeout=30, check=False)
    assert parsed.returncode == 0, parsed.stderr

    commands = [line.strip() for line in CI_RUN.read_text(encoding="utf-8").splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    assert commands[-1] == "make test"
    assert commands[:2] == ["set -euo pipefail", 'cd "$(dirname "$0")/.."']
    assert not [c for c in commands if "pytest" in c]  # nothing weaker than `make test` runs instead
