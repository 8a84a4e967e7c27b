"""Load measurement of OpenAI-compatible streaming servers with the stock Locust CLI.

Importing this package does not import Locust (which monkey-patches the process with gevent);
only the locustfile does, inside the ``locust`` process.
"""

from pathlib import Path

#: The locustfile for ``locust -f``; also printed by ``hawkeye-bench load --print-locustfile``.
LOCUSTFILE = Path(__file__).resolve().with_name("locustfile.py")

#: a worker's exit code when its master said more stages follow (``hawkeye-bench load --worker``
#: starts it again); 0 after the last stage
NEXT_STAGE_EXIT_CODE = 75
