"""Regenerates every parity fixture under Tests/Fixtures/parity/.

    tools/.venv/bin/python tools/parity/make_fixtures.py [name-filter ...]

Versions are pinned in tools/requirements.txt; `make parity-fixtures` sets up the venv.
"""
import sys

import harness
import cases_kernels
import cases_bridge  # noqa: F401
import cases_qformer  # noqa: F401
import cases_vision  # noqa: F401  (registers cases)
import cases_text  # noqa: F401  (registers cases)
import cases_e2e  # noqa: F401  (whole model directories)

if __name__ == "__main__":
    torch_threads = 1
    import torch
    torch.set_num_threads(torch_threads)
    if not sys.argv[1:] or any(a in "kernels" for a in sys.argv[1:]):
        cases_kernels.make()
    harness.run(sys.argv[1:] or None)
