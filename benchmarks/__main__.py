import sys

from .bench import main

status = main()
# The local X-Ray store's benchmarks (python -m benchmarks.store for its own options).
from .store import main as store_main  # noqa: E402

sys.exit(status or store_main(["--quick"] if "--quick" in sys.argv[1:] else []))
