"""Run a command and print its peak RSS in KiB on stderr's last line: `rss.py CMD...`.

The peak comes from getrusage(RUSAGE_CHILDREN) in this wrapper, whose only child is CMD, so
it is that command's own peak, whatever else the benchmark ran before.
"""

import resource
import subprocess
import sys

code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(f"maxrss_kib={resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}", file=sys.stderr)
sys.exit(code)
