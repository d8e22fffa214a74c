import signal
import threading

import ray
from ray import serve

from iris import app

stopping = threading.Event()
# After ray.init, whose own SIGTERM handler exits at once; before serve.run, which can still be
# waiting for the deployment while the first requests are answered (and a SIGTERM arrives).
ray.init()
signal.signal(signal.SIGTERM, lambda *_: stopping.set())
serve.run(app)
stopping.wait()
serve.shutdown()
