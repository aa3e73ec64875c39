"""`arec load`: recorder capacity on Locust, with a verdict on every call's recording.

Pure parts (ramp plan, verdicts, report, gate) import no Locust; `call` runs one two-stream
recorded call on plain sockets; `locustfile` is the only module that imports Locust (and so
gevent), and runs only in the Locust processes `arec load` starts (`runner`).
"""
