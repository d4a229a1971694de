import sys

from eclipse_bench.cli import main

sys.exit(main())
