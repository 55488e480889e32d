"""``python -m benchmarks.run``: moved to :mod:`ncplace.benchmarking.run` (installed with the
package); this name stays an alias of that module, so ``benchmarks.run`` and
``ncplace.benchmarking.run`` are one object."""

import sys

from ncplace.benchmarking import run

if __name__ == "__main__":
    sys.exit(run.main())
sys.modules[__name__] = run
