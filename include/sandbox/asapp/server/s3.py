"""ASAPP's export bucket, served by moto's S3 server running in this process.

Objects are written straight into moto's in-memory backend rather than through HTTP: releasing
thousands of partitions then takes milliseconds, while readers still use a real S3 endpoint.
"""

import logging
import re

from moto.core import DEFAULT_ACCOUNT_ID
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.s3.models import s3_backends


def export_bucket_name(company: str, region: str) -> str:
    """ASAPP's documented import-bucket pattern mirrored for exports (NOTES §3.1), made a valid bucket
    name."""
    label = re.sub(r"[^a-z0-9-]+", "-", company.lower()).strip("-") or "acme"
    return f"asapp-prod-{label}-exports-{region}"


class SandboxS3:
    def __init__(self, host: str, port: int, bucket: str, region: str) -> None:
        self.bucket = bucket
        self.region = region
        self._server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
        self._backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]

    def start(self) -> int:
        """Start serving and create the bucket; returns the port."""
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto logs every request otherwise
        self._server.start()
        self._backend.create_bucket(self.bucket, self.region)
        return self._server.get_host_and_port()[1]

    def stop(self) -> None:
        self._server.stop()

    def put(self, key: str, content: bytes) -> None:
        self._backend.put_object(self.bucket, key, content, disable_notification=True)

    def delete(self, key: str) -> None:
        self._backend.delete_object(self.bucket, key)
