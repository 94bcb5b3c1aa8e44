import sys

from .bench import main
from .bytes_per_request import main as bytes_per_request

status = main()
status = status or bytes_per_request()
sys.exit(status)
