import signal
import threading

from ray import serve

from iris import app

serve.run(app)
stopping = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stopping.set())
stopping.wait()
serve.shutdown()
