import sys

from .bench import main

status = main()
if status == 0:
    # XRayRemoteSampler's decision cost and memory (python -m benchmarks.sampling for its own options).
    from .sampling import main as sampling_main

    status = sampling_main(sys.argv[1:])
sys.exit(status)
