"""Gunicorn settings for regos-admin (``gunicorn -c deploy/gunicorn.conf.py regos_admin.wsgi``).

Read from the environment so the systemd unit, ``make serve`` and a shell all configure it the same way:

* ``HOST`` / ``PORT`` — where to listen (default ``127.0.0.1:8000``: behind a reverse proxy that
  terminates TLS; ``HOST=0.0.0.0`` to serve the shop's LAN directly);
* ``WEB_CONCURRENCY`` — worker processes (default 2; roughly 2 × cores for a busy panel);
* ``GUNICORN_THREADS`` — threads per worker (default 4: report exports wait on the database);
* ``GUNICORN_READ_TIMEOUT`` — seconds a client has to send a request's line and headers, and again for
  each read of its body (default 10): ``regos_admin.gunicorn_worker.ReadDeadlineWorker`` closes slower
  connections, so slow clients cannot hold every thread (no proxy in front on a LAN);
* ``GUNICORN_TIMEOUT`` — seconds before a stuck request's worker is restarted (default 60; a sync
  never runs in a web request — it is a django-q2 task).

Static files are served by whitenoise from ``STATIC_ROOT`` (``collectstatic`` runs first in ``make serve``).
"""

import os

from gunicorn.glogging import Logger
from gunicorn.http import wsgi as _wsgi

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "regos_admin.gunicorn_worker.ReadDeadlineWorker"  # gthread + read deadline
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
keepalive = 5
# Each worker restarts after this many requests (± jitter): bounds slow memory growth.
max_requests = 2000
max_requests_jitter = 200
# Behind a reverse proxy on the same machine: trust its X-Forwarded-* headers (settings.py reads
# X-Forwarded-Proto for HTTPS detection). Set FORWARDED_ALLOW_IPS for a proxy on another host.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms'


class MaskingLogger(Logger):
    """Access log lines without the webhook's secret path segment (REGOS_WEBHOOK_SECRET).

    The REGOS integration key is never in a URL of ours (only in outgoing requests to REGOS).
    """

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        secret = os.environ.get("REGOS_WEBHOOK_SECRET", "")
        if secret:
            for name in ("r", "U", "q", "f"):
                value = atoms.get(name)
                if isinstance(value, str) and secret in value:
                    atoms[name] = value.replace(secret, "•••")
        return atoms


logger_class = MaskingLogger


def _without_server_header(default_headers):
    """Gunicorn has no setting for it: drop the ``Server: gunicorn`` line (names the software to a scanner)."""

    def headers(self):
        return [line for line in default_headers(self) if not line.startswith("Server:")]

    return headers


_wsgi.Response.default_headers = _without_server_header(_wsgi.Response.default_headers)
proc_name = "regos-admin-web"
# gunicorn ≥ 25.1 opens a control socket in $XDG_RUNTIME_DIR or ~/.gunicorn by default: not needed
# here, it would collide between two instances of one user, and the systemd unit hides $HOME.
control_socket_disable = True
