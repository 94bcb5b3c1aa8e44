import sys
from typing import List

from . import targets
from .bench import describe_machine, main
from .bytes_per_request import main as bytes_per_request



def only(options: List[str], argv: List[str]) -> List[str]:
    """The arguments of ``argv`` that are among ``options`` (with their values): each benchmark takes its own."""
    kept: List[str] = []
    for index, argument in enumerate(argv):
        name = argument.split("=", 1)[0]
        if name in options:
            kept.append(argument)
            if "=" not in argument and name != "--quick" and index + 1 < len(argv):
                kept.append(argv[index + 1])
    return kept


status = main()
if status == 0:
    # The local X-Ray store's benchmarks (python -m benchmarks.store for its own options).
    from .store import main as store_main

    status = store_main(["--quick"] if "--quick" in sys.argv[1:] else [])
if status == 0:
    # The X-Ray API transport's figures, with the options it knows (skipped without botocore and moto).
    from .api_transport import main as api_transport_main

    status = api_transport_main(only(["--quick", "--traces", "--repeats"], sys.argv[1:]))
if status == 0:
    # Encoded bytes per request, ours against aws-xray-sdk's for the same requests.
    status = bytes_per_request()
if status == 0:
    # XRayRemoteSampler's decision cost and memory (python -m benchmarks.sampling for its own options).
    from .sampling import main as sampling_main

    status = sampling_main(sys.argv[1:])
# Every target of issue 16 measured above, in one table.
targets.print_summary(f"{describe_machine()}; command: make bench BENCH_ARGS='{' '.join(sys.argv[1:])}'")
sys.exit(status)
