import sys

from .bench import main
from .sampling import main as sampling_main

status = main()
sys.exit(status or sampling_main(sys.argv[1:]))
