"""k8saudit in Python: Kubernetes audit events for Falco, a drop-in for upstream's Go plugin.

Same name, plugin id (1), event source (``k8s_audit``), configuration keys and the 100 ``ka.*``
fields, so ``k8s_audit_rules.yaml`` applies unchanged. Open parameters, as upstream:

- ``http://[HOST]:PORT/PATH`` or ``https://...``: a webhook server for the API server's audit
  webhook backend (``https`` takes key and certificate from the ``sslCertificate`` PEM file);
- ``PATH``: a JSON-lines file (or a directory of them, oldest first), read to its end;
- ``file://PATH``: the file followed from its end, through appends and rotation.

Build and run::

    falco-plugin build examples/k8saudit/k8saudit.py:K8sAudit -o libk8saudit.so
    falco-plugin run libk8saudit.so --open-params audit.jsonl --fields ka.verb,ka.user.name,ka.target.resource
"""

from __future__ import annotations

import logging
import urllib.parse
from typing import Any

from k8saudit_events import DEFAULT_MAX_EVENT_SIZE, JSON_LIBRARY
from k8saudit_fields import AuditFields, Corrections
from k8saudit_sources import FileSource, FileWatch, Webhook, file_paths
from pydantic import BaseModel, Field

from falco_plugin import Event, Metric, OpenParam, Plugin, SourceInstance, SourcePlugin

log = logging.getLogger(__name__)


class CustomFieldsHeader(BaseModel):
    header: str
    pattern: str = ""
    customFields: list[str] = Field(default_factory=list)


class K8sAuditConfig(BaseModel):
    """Upstream's init config: the same keys, the same defaults; unknown keys are ignored."""

    sslCertificate: str = Field(default="/etc/falco/falco.pem", title="SSL certificate", description=(
        "The SSL Certificate to be used with the HTTPS Webhook endpoint (Default: /etc/falco/falco.pem)"))
    useAsync: bool = Field(default=True, title="Use async extraction", description=(
        "If true then async extraction optimization is enabled (Default: true)"))
    maxEventSize: int = Field(default=DEFAULT_MAX_EVENT_SIZE, ge=0, title="Maximum event size",
                              description="Maximum size of single audit event (Default: 262144)")
    webhookMaxBatchSize: int = Field(default=12 * 1024 * 1024, ge=0, title="Maximum webhook request size",
                                     description="Maximum size of incoming webhook POST request bodies "
                                     "(Default: 12582912)")
    customFieldsHeaders: list[CustomFieldsHeader] = Field(default_factory=list)
    # not upstream's keys (upstream ignores them): every field gives upstream's value unless switched
    corrections: Corrections = Field(default_factory=Corrections, description=(
        "Fields where upstream's value is plainly wrong: each switch gives the correct value instead "
        "(all off by default: upstream's values)"))
    hostPathFirstVolumeOnly: bool = Field(default=False, description=(
        "ka.req.volume.hostpath looks at the first volume only, as upstream does under libsinsp "
        "before 0.24 (by default every volume, as upstream under later libsinsp)"))


class K8sAudit(Plugin, SourcePlugin, AuditFields):
    NAME = "k8saudit"
    PLUGIN_VERSION = "0.18.0"
    DESCRIPTION = "Read Kubernetes Audit Events and monitor Kubernetes Clusters"
    CONTACT = "https://github.com/falcosecurity/plugins (upstream); this port: falco-plugin examples/k8saudit"
    PLUGIN_ID = 1
    EVENT_SOURCE = "k8s_audit"

    def __init__(self, config: K8sAuditConfig) -> None:
        self.config = config
        self.corrections = config.corrections
        self.hostpath_first_volume = config.hostPathFirstVolumeOnly
        self.handoff: dict[bytes, Any] = {}
        if config.useAsync:
            log.info("useAsync is accepted and ignored: the Python SDK extracts synchronously")
        if config.customFieldsHeaders:
            log.warning("customFieldsHeaders is not supported by this port: events get no custom fields")
        log.debug("JSON parser: %s", JSON_LIBRARY)

    def open(self, params: str) -> SourceInstance:
        params = params.strip()
        url = urllib.parse.urlsplit(params)
        cfg = self.config
        if url.scheme in ("http", "https"):
            return Webhook(url.hostname or "", url.port or (443 if url.scheme == "https" else 80), url.path,
                           certificate=cfg.sslCertificate if url.scheme == "https" else None,
                           max_batch_size=cfg.webhookMaxBatchSize, max_event_size=cfg.maxEventSize,
                           handoff=self.handoff)
        if url.scheme == "file":
            return FileWatch(params[len("file://"):], cfg.maxEventSize, self.handoff)
        if url.scheme and len(url.scheme) > 1:  # one letter: a Windows drive, a path for upstream too
            raise ValueError(f'scheme "{url.scheme}" is not supported')
        return FileSource(file_paths(params), cfg.maxEventSize, self.handoff)

    def list_open_params(self) -> list[OpenParam]:
        return [
            OpenParam("http://:9765/k8s-audit", "a webhook server on port 9765 of every interface"),
            OpenParam("https://:9765/k8s-audit", "the same over TLS (sslCertificate holds key and certificate)"),
            OpenParam("/var/log/kubernetes/audit.log", "a JSON-lines audit log, read to its end"),
            OpenParam("file:///var/log/kubernetes/audit.log", "the same log, followed from its end"),
        ]

    def get_metrics(self) -> list[Metric]:
        """``json_decodes``: events the fields decoded themselves; ``shared_decodes``: events whose
        decode by our source the fields took (each event's JSON is parsed once either way)."""
        return [Metric("json_decodes", self.decodes), Metric("shared_decodes", self.shared_decodes)]

    def event_to_string(self, event: Event) -> str:
        return (event.payload or b"").decode("utf-8", "replace")
