import signal
import sys
import time

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Stand-in for a Celery worker: logs a heartbeat every 5 seconds."

    def handle(self, *args, **options):
        def stop(signum, frame):
            self.stdout.write("worker: SIGTERM received, exiting")
            sys.stdout.flush()
            sys.exit(0)

        signal.signal(signal.SIGTERM, stop)
        self.stdout.write("worker: started")
        while True:
            self.stdout.write(f"worker: heartbeat {time.strftime('%Y-%m-%dT%H:%M:%S')}")
            sys.stdout.flush()
            time.sleep(5)
