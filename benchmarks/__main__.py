import sys

from .bench import main
from .bytes_per_request import main as bytes_per_request

status = main()
if status == 0:
    # The local X-Ray store's benchmarks (python -m benchmarks.store for its own options).
    from .store import main as store_main

    status = store_main(["--quick"] if "--quick" in sys.argv[1:] else [])
if status == 0:
    # The X-Ray API transport's figures, with the same options (skipped without botocore and moto).
    from .api_transport import main as api_transport_main

    status = api_transport_main(sys.argv[1:])
if status == 0:
    # Encoded bytes per request, ours against aws-xray-sdk's for the same requests.
    status = bytes_per_request()
if status == 0:
    # XRayRemoteSampler's decision cost and memory (python -m benchmarks.sampling for its own options).
    from .sampling import main as sampling_main

    status = sampling_main(sys.argv[1:])
sys.exit(status)
