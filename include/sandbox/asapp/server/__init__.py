"""The ASAPP sandbox server: File Exporter, configuration, AutoSummary and real-time APIs plus an
S3 export bucket, all over one dataset directory and one adjustable clock. See SERVER.md.

    python -m include.sandbox.asapp serve --data DIR --port 8101
"""

import argparse
from pathlib import Path

from .clock import parse_instant

DEFAULT_API_ID = "sandbox-api-id"
DEFAULT_API_SECRET = "sandbox-api-secret"  # a local fake's credential, not anyone's secret


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="dataset directory to serve")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8101, help="API port; 0 picks a free one (default 8101)")
    parser.add_argument(
        "--s3-port", type=int, help="S3 port; default --port + 1, or a free one when --port is 0"
    )
    parser.add_argument(
        "--api-id", default=DEFAULT_API_ID, help=f"accepted asapp-api-id (default {DEFAULT_API_ID})"
    )
    parser.add_argument("--api-secret", default=DEFAULT_API_SECRET, help="accepted asapp-api-secret")
    parser.add_argument(
        "--daily-cap", type=int, default=10_000, help="calls per api id and product per UTC day"
    )
    parser.add_argument(
        "--spike-rps", type=float, default=100, help="spike arrest: calls per second per product"
    )
    parser.add_argument("--url-ttl", type=int, default=900, help="signed download URL lifetime in seconds")
    parser.add_argument(
        "--clock", default="now", help="start the sandbox clock at this ISO instant (default now)"
    )
    parser.add_argument(
        "--hourly-lag-minutes",
        type=float,
        default=20,
        help="an hourly partition appears this long after its hour",
    )
    parser.add_argument("--region", default="us-east-1", help="AWS region of the export bucket")
    parser.add_argument("--bucket", help="bucket name (default asapp-prod-{company}-exports-{region})")


def run(args: argparse.Namespace) -> None:
    from .app import ServerOptions, serve  # the server's dependencies load only when serving

    if not args.data.is_dir():
        raise SystemExit(f"--data {args.data} is not a directory")
    serve(
        ServerOptions(
            data=args.data,
            host=args.host,
            port=args.port,
            s3_port=args.s3_port if args.s3_port is not None else (args.port + 1 if args.port else 0),
            api_id=args.api_id,
            api_secret=args.api_secret,
            daily_cap=args.daily_cap,
            spike_rps=args.spike_rps,
            url_ttl=args.url_ttl,
            clock=None if args.clock == "now" else parse_instant(args.clock),
            hourly_lag_minutes=args.hourly_lag_minutes,
            region=args.region,
            bucket=args.bucket,
        )
    )
