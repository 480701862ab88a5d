#!/usr/bin/env bash
# Set up ./.venv (if needed) and run the test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} WANDB_MODE=offline PYOPENGL_PLATFORM=${PYOPENGL_PLATFORM:-egl}
set +e
.venv/bin/python -m pytest -q --durations=15 "$@"
status=$?
set -e
if [ "$status" = 5 ]; then echo "pytest collected no tests"; exit 0; fi
exit "$status"
