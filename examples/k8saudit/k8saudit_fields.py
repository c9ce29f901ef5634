"""The 100 ``ka.*`` fields of upstream's k8saudit plugin (0.18.0), with its semantics.

Every field is a string or a list of strings, read from the audit event's JSON, which is
decoded once per event (:meth:`AuditFields.audit`, a ``per_event`` memo). Values that are not
JSON strings are given as compact JSON (``true``, ``200``, ``{"k":"v"}``), as upstream does.
A missing value gives no value; so does an empty list. By default every field gives upstream's
value, even where it is plainly wrong; each correction is a switch of :class:`Corrections`
(``examples/k8saudit/README.md`` lists them).

    >>> pod = {"requestObject": {"spec": {"containers": [{"image": "nginx:1.25"}, {"name": "no-image"}]}}}
    >>> values_at(pod, None, ("requestObject", "spec", "containers", "image"))
    ['nginx:1.25', MISSING]
    >>> values_at(pod, 1, ("requestObject", "spec", "containers", "name"))
    ['no-image']
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from k8saudit_events import dumps_text, loads
from pydantic import BaseModel, Field

from falco_plugin import Event, ExtractPlugin, Index, Key, field, per_event

__all__ = ["CONTAINER_LISTS", "AuditFields", "Corrections", "image_repository", "upstream_image_repository"]


class Corrections(BaseModel):
    """Where upstream's value is plainly wrong, the correct one instead: each switch off (upstream's
    value) by default, so that alert text is what SIEM parsers of the Go plugin's output expect.

    >>> Corrections(sourceIPs=True).sourceIPs
    True
    """

    sourceIPs: bool = Field(default=False, description=(
        "ka.sourceips: the event's sourceIPs (an index picks one). Upstream reads "
        "requestObject.rules[].sourceIPs, which real events never have: no value"))
    imageRepository: bool = Field(default=False, description=(
        "*.image.repository: drop the digest, and the tag only after the last '/' "
        "(registry:5000/app:1 gives registry:5000/app). Upstream cuts at the first ':' (registry)"))
    effectiveRunAs: bool = Field(default=False, description=(
        "*.eff_run_as_user/group: the container's securityContext value, else the pod's, else 0. "
        "Upstream reads spec.runAsUser and containers[].runAsUser (outside securityContext): 0"))
    addCapabilities: bool = Field(default=False, description=(
        "*.add_capabilities: the capability names, flattened (NET_ADMIN). Upstream gives one JSON "
        'array string per container (["NET_ADMIN"])'))
    servicePorts: bool = Field(default=False, description=(
        "ka.req.service.ports: one JSON object string per port (an index picks one). Upstream gives "
        "the whole array as one string and ignores the index"))

class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()  # a key that is not there (JSON null is None, which is a value)
Json = Any


def as_str(value: Json) -> str:
    return value if isinstance(value, str) else dumps_text(value)


def get(node: Json, *keys: str) -> Json:
    """``node[k1][k2]...`` through objects (and numeric keys through arrays); MISSING if absent."""
    for k in keys:
        if isinstance(node, dict):
            node = node.get(k, MISSING)
        elif isinstance(node, list) and k.isdigit() and int(k) < len(node):
            node = node[int(k)]
        else:
            return MISSING
        if node is MISSING:
            return MISSING
    return node


def values_at(node: Json, index: int | None, keys: Sequence[str]) -> list[Json] | None:
    """Upstream's walk: fan out over the arrays met on the way (or take element ``index`` of
    each), one entry per leaf, MISSING where a leaf is absent; None if the path is absent
    before the first array. A key ``""`` stands for the element itself."""
    for i, k in enumerate(keys):
        if isinstance(node, list):
            if index is None:
                out: list[Json] = []
                for item in node:
                    sub = values_at(item, None, keys[i:])
                    if sub is None:
                        out.append(MISSING)
                    else:
                        out.extend(sub)
                return out
            if index >= len(node):
                return None
            node = node[index]
        if k:
            node = node.get(k, MISSING) if type(node) is dict else get(node, k)  # get(), the usual case inlined
            if node is MISSING:
                return None
    return [node]


def strings_skip_missing(values: Sequence[Json]) -> list[str]:
    return [as_str(v) for v in values if v is not MISSING]


def strings_all(values: Sequence[Json]) -> list[str] | None:
    """All entries as strings, or None (no value) if one is missing (upstream's error case)."""
    if any(v is MISSING for v in values):
        return None
    return [as_str(v) for v in values]


def flatten(values: Sequence[Json]) -> list[str]:
    """The strings of the arrays among ``values``, in order (upstream's role-rules flattening)."""
    out: list[str] = []
    for v in values:
        if isinstance(v, list):
            out.extend(as_str(x) for x in v)
    return out


def image_repository(image: str) -> str:
    """``registry:5000/team/app:1.2@sha256:..`` → ``registry:5000/team/app``.

    >>> image_repository("registry.example.com:5000/falco:0.38")
    'registry.example.com:5000/falco'
    """
    image = image.split("@", 1)[0]
    colon = image.rfind(":")
    return image[:colon] if colon > image.rfind("/") else image


def upstream_image_repository(image: str) -> str:
    """Upstream's cut: before the first ``:``, then before any ``@``.

    >>> upstream_image_repository("registry.example.com:5000/falco:0.38")
    'registry.example.com'
    """
    return image.split(":", 1)[0].split("@", 1)[0]


def _none_if_empty(values: list[str] | None) -> list[str] | None:
    return values or None


# The three container lists of a Pod spec: (JSON key, field prefix, words for descriptions).
CONTAINER_LISTS = (
    ("containers", "ka.req.pod.containers", "containers"),
    ("initContainers", "ka.req.pod.initContainers", "init containers"),
    ("ephemeralContainers", "ka.req.pod.ephemeralContainers", "ephemeral containers"),
)

Compute = Callable[[dict[str, Any], int | None], list[str] | None]


def _list_field(name: str, desc: str, compute: Compute, fixed: Compute | None = None, fix: str = "") -> Any:
    """A ``string (list)`` field with an optional index, computed from the decoded event: by
    ``fixed`` instead of ``compute`` when the plugin's correction ``fix`` is switched on."""

    def extract(self: AuditFields, event: Event, index: int | None) -> list[str] | None:
        audit = self.audit(event)
        if audit is None:
            return None
        if fixed is not None and getattr(self.corrections, fix):
            return _none_if_empty(fixed(audit, index))
        return _none_if_empty(compute(audit, index))

    extract.__name__ = extract.__qualname__ = "f_" + name.replace(".", "_")
    return field(name, desc=desc, arg=Index())(extract)


def _security(lst: str, *keys: str) -> Compute:
    def compute(audit: dict[str, Any], index: int | None) -> list[str] | None:
        found = values_at(audit, index, ("requestObject", "spec", lst, "securityContext", *keys))
        return None if found is None else strings_skip_missing(found)

    return compute


def _flat(lst: str, *keys: str) -> Compute:
    def compute(audit: dict[str, Any], index: int | None) -> list[str] | None:
        found = values_at(audit, index, ("requestObject", "spec", lst, *keys))
        return None if found is None else flatten(found)

    return compute


def _joined(lst: str, key: str) -> Compute:
    """Upstream's ``command`` / ``args``: each container's strings joined by spaces, one entry per
    container that has the list; no value if a list is not an array of strings."""

    def compute(audit: dict[str, Any], index: int | None) -> list[str] | None:
        found = values_at(audit, index, ("requestObject", "spec", lst, key))
        if found is None:
            return None
        out = []
        for words in found:
            if words is MISSING:
                continue
            if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
                return None
            out.append(" ".join(words))
        return out

    return compute


def _images(lst: str, index: int | None, audit: dict[str, Any]) -> list[str] | None:
    found = values_at(audit, index, ("requestObject", "spec", lst, "image"))
    return None if found is None else strings_all(found)


def _effective(lst: str, key: str) -> Compute:
    """The corrected ``eff_run_as_*``: the container's securityContext, else the pod's, else 0."""

    def compute(audit: dict[str, Any], index: int | None) -> list[str] | None:
        pod = get(audit, "requestObject", "spec", "securityContext", key)
        default = "0" if pod is MISSING else as_str(pod)
        containers = get(audit, "requestObject", "spec", lst)
        if not isinstance(containers, list):
            return None
        if index is not None:
            containers = containers[index:index + 1]
        values = (get(c, "securityContext", key) for c in containers)
        return [default if v is MISSING else as_str(v) for v in values]

    return compute


def _upstream_effective(lst: str, key: str) -> Compute:
    """Upstream's ``eff_run_as_*``: ``spec.<key>`` (else 0) as the default of each container's
    ``<key>``, both read outside ``securityContext``, so 0 on real pods."""

    def compute(audit: dict[str, Any], index: int | None) -> list[str] | None:
        pod = get(audit, "requestObject", "spec", key)
        default = "0" if pod is MISSING else as_str(pod)
        found = values_at(audit, index, ("requestObject", "spec", lst, key))
        return None if found is None else [default if v is MISSING else as_str(v) for v in found]

    return compute


def _host_ports(lst: str) -> Compute:
    def compute(audit: dict[str, Any], index: int | None) -> list[str] | None:
        found = values_at(audit, index, ("requestObject", "spec", lst, "ports"))
        if found is None:
            return None
        out: list[str] = []
        for ports in found:
            if ports is MISSING:
                continue
            if not isinstance(ports, list):
                return None
            for port in ports:
                for key in ("hostPort", "containerPort"):  # containerPort is the host's with hostNetwork
                    value = get(port, key)
                    if value is not MISSING:
                        out.append(as_str(value))
                        break
        return out

    return compute


def _container_family(lst: str, prefix: str, what: str, *, host_port: bool) -> Iterator[tuple[str, Any]]:
    """The fields that every container list of a Pod has (upstream generates them per list too)."""

    def names(audit: dict[str, Any], index: int | None) -> list[str] | None:
        found = values_at(audit, index, ("requestObject", "spec", lst, "name"))
        return None if found is None else strings_all(found)

    def images(audit: dict[str, Any], index: int | None) -> list[str] | None:
        return _images(lst, index, audit)

    def repositories(audit: dict[str, Any], index: int | None) -> list[str] | None:
        found = _images(lst, index, audit)
        return None if found is None else [upstream_image_repository(i) for i in found]

    def fixed_repositories(audit: dict[str, Any], index: int | None) -> list[str] | None:
        found = _images(lst, index, audit)
        return None if found is None else [image_repository(i) for i in found]

    # (suffix, description, upstream's computation, the corrected one or None, its switch)
    specs: list[tuple[str, str, Compute, Compute | None, str]] = [
        ("name", f"When the request object refers to a pod, the {what} names.", names, None, ""),
        ("image", f"When the request object refers to a pod, the {what} images.", images, None, ""),
        ("image.repository", f"The same as {prefix}.image, but only the repository part (e.g. falcosecurity/falco).",
         repositories, fixed_repositories, "imageRepository"),
        ("command", f"When the request object refers to a pod, the {what} commands.", _joined(lst, "command"),
         None, ""),
        ("args", f"When the request object refers to a pod, the {what} args.", _joined(lst, "args"), None, ""),
        ("privileged", f"When the request object refers to a pod, the value of the privileged flag for all {what}.",
         _security(lst, "privileged"), None, ""),
        ("allow_privilege_escalation",
         f"When the request object refers to a pod, the value of the allowPrivilegeEscalation flag for all {what}.",
         _security(lst, "allowPrivilegeEscalation"), None, ""),
        ("read_only_fs",
         f"When the request object refers to a pod, the value of the readOnlyRootFilesystem flag for all {what}.",
         _security(lst, "readOnlyRootFilesystem"), None, ""),
        ("run_as_user", f"When the request object refers to a pod, the runAsUser uid for all {what}.",
         _security(lst, "runAsUser"), None, ""),
        ("eff_run_as_user",
         f"When the request object refers to a pod, the initial uid that will be used for all {what}. This combines "
         "information from both the pod and container security contexts and uses 0 if no uid is specified.",
         _upstream_effective(lst, "runAsUser"), _effective(lst, "runAsUser"), "effectiveRunAs"),
        ("run_as_group", f"When the request object refers to a pod, the runAsGroup gid for all {what}.",
         _security(lst, "runAsGroup"), None, ""),
        ("eff_run_as_group",
         f"When the request object refers to a pod, the initial gid that will be used for all {what}. This combines "
         "information from both the pod and container security contexts and uses 0 if no gid is specified.",
         _upstream_effective(lst, "runAsGroup"), _effective(lst, "runAsGroup"), "effectiveRunAs"),
        ("proc_mount", f"When the request object refers to a pod, the procMount type for all {what}.",
         _security(lst, "procMount"), None, ""),
        ("add_capabilities", f"When the request object refers to a pod, the capabilities added for all {what}.",
         _security(lst, "capabilities", "add"), _flat(lst, "securityContext", "capabilities", "add"),
         "addCapabilities"),
    ]
    if host_port:
        specs.append(("host_port", f"When the request object refers to a pod, all {what} hostPort values.",
                      _host_ports(lst), None, ""))
    for suffix, desc, compute, fixed, fix in specs:
        name = f"{prefix}.{suffix}"
        yield "f_" + name.replace(".", "_"), _list_field(name, desc, compute, fixed, fix)


def _str_field(name: str, desc: str, *keys: str) -> Any:
    """A plain ``string`` field: the value at ``keys``."""

    def extract(self: AuditFields, event: Event) -> str | None:
        node: Any = self.audit(event)  # get() inlined: these are the fields rules ask most
        for k in keys:
            if type(node) is not dict:
                return None
            node = node.get(k, MISSING)
            if node is MISSING:
                return None
        return node if type(node) is str else dumps_text(node)

    extract.__name__ = extract.__qualname__ = "f_" + name.replace(".", "_")
    return field(name, desc=desc)(extract)


def _strlist_field(name: str, desc: str, *keys: str) -> Any:
    """A ``string (list)`` field without argument: the JSON array at ``keys``."""

    def extract(self: AuditFields, event: Event) -> list[str] | None:
        audit = self.audit(event)
        value = MISSING if audit is None else get(audit, *keys)
        if not isinstance(value, list):  # absent, or upstream's "wrong type conversion"
            return None
        return _none_if_empty([as_str(v) for v in value])

    extract.__name__ = extract.__qualname__ = "f_" + name.replace(".", "_")
    return field(name, desc=desc)(extract)


def _subjects_field(name: str, desc: str, kind: str, namespaced: bool = False) -> Any:
    """Upstream's subject names: of the subjects with a ``kind`` and a ``name``, those of ``kind``
    (values that are not strings as JSON text); ``namespace:name`` skips subjects without namespace."""

    def extract(self: AuditFields, event: Event) -> list[str] | None:
        audit = self.audit(event)
        subjects = MISSING if audit is None else get(audit, "requestObject", "subjects")
        if not isinstance(subjects, list):
            return None
        out = []
        for s in subjects:
            if not isinstance(s, dict) or "kind" not in s or "name" not in s or as_str(s["kind"]) != kind:
                continue
            if not namespaced:
                out.append(as_str(s["name"]))
            elif "namespace" in s:
                out.append(f"{as_str(s['namespace'])}:{as_str(s['name'])}")
        return _none_if_empty(out)

    extract.__name__ = extract.__qualname__ = "f_" + name.replace(".", "_")
    return field(name, desc=desc)(extract)


def _rules_values(audit: dict[str, Any], index: int | None, key: str) -> list[str] | None:
    """The strings of ``requestObject.rules[].<key>`` (or of rule ``index``), flattened."""
    found = values_at(audit, index, ("requestObject", "rules", key))
    return None if found is None else flatten(found)


def _rules_field(key: str, what: str) -> Any:
    def compute(audit: dict[str, Any], index: int | None) -> list[str] | None:
        return _rules_values(audit, index, key)

    return _list_field(f"ka.req.role.rules.{key}",
                       f"When the request object refers to a role/cluster role, the {what} associated with the "
                       "role's rules", compute)


def _volumes(key: str, inner: str) -> Callable[[dict[str, Any], int | None], list[str] | None]:
    def compute(audit: dict[str, Any], index: int | None) -> list[str] | None:
        found = values_at(audit, index, ("requestObject", "spec", "volumes", key, inner))
        return None if found is None else strings_skip_missing(found)

    return compute


def _volume_types(audit: dict[str, Any], index: int | None) -> list[str] | None:
    found = values_at(audit, index, ("requestObject", "spec", "volumes", ""))
    if found is None:
        return None
    return [k for v in found if isinstance(v, dict) for k in v if k != "name"]


def _upstream_service_ports(audit: dict[str, Any], index: int | None) -> list[str] | None:
    ports = get(audit, "requestObject", "spec", "ports")  # no array on the way: the index changes nothing
    return None if ports is MISSING else [as_str(ports)]


def _service_ports(audit: dict[str, Any], index: int | None) -> list[str] | None:
    ports = get(audit, "requestObject", "spec", "ports")
    if not isinstance(ports, list):
        return None
    if index is not None:
        ports = ports[index:index + 1]
    return [as_str(p) for p in ports]


def _upstream_source_ips(audit: dict[str, Any], index: int | None) -> list[str] | None:
    return _rules_values(audit, index, "sourceIPs")


def _source_ips(audit: dict[str, Any], index: int | None) -> list[str] | None:
    ips = get(audit, "sourceIPs")
    if not isinstance(ips, list):
        return None
    if index is not None:
        ips = ips[index:index + 1]
    return [as_str(ip) for ip in ips]


_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def go_query_param(uri: str, key: str) -> str | None:
    """The first value of ``key`` in the URI's query, or None where Go's ``url.Parse`` or
    ``url.ParseQuery`` (upstream's parsers) fail: a control character, a bad ``%`` escape in the
    path or query, a ``;`` in a key=value pair.

    >>> go_query_param("/api/v1/pods?limit=500&watch", "watch"), go_query_param("/p?a=1;b=2", "a")
    ('', None)
    """
    if any(c < " " or c == "\x7f" for c in uri):
        return None
    path, _, query = uri.partition("#")[0].partition("?")
    if _ESCAPE.search(path):
        return None
    found = None
    for pair in query.split("&"):
        if ";" in pair or _ESCAPE.search(pair):
            return None
        if pair and found is None:
            k, _, v = pair.partition("=")
            if urllib.parse.unquote_plus(k) == key:
                found = urllib.parse.unquote_plus(v)
    return found


class AuditFields(ExtractPlugin):
    """Mixin with the k8saudit fields; the plugin class adds the source (see ``k8saudit.py``)."""

    #: Events our own source decoded in the current batch, by payload: taken instead of a decode.
    handoff: dict[bytes, Any] = {}  # noqa: RUF012 - the plugin sets its own in __init__
    #: How often ``audit`` decoded a payload itself, and how often it took the source's decode.
    decodes = shared_decodes = 0
    #: The corrections switched on (the plugin sets its config's); all off: upstream's values.
    corrections = Corrections()
    #: ``ka.req.volume.hostpath`` looks at the first volume only, as upstream under libsinsp < 0.24.
    hostpath_first_volume = False

    @per_event
    def audit(self, event: Event) -> dict[str, Any] | None:
        """The event's audit JSON, decoded once per event; None for anything but an audit event."""
        payload = event.payload
        if not payload or payload[:1] not in (b"{", b"["):
            return None
        value = self.handoff.pop(payload, None)
        if value is not None:
            self.shared_decodes += 1
        else:
            self.decodes += 1
            try:
                value = loads(payload)
            except ValueError:
                return None
        return value if isinstance(value, dict) and "auditID" in value else None

    f_ka_auditid = _str_field("ka.auditid", "The unique id of the audit event", "auditID")
    f_ka_stage = _str_field("ka.stage", "Stage of the request (e.g. RequestReceived, ResponseComplete, etc.)",
                            "stage")
    f_ka_auth_decision = _str_field("ka.auth.decision", "The authorization decision",
                                    "annotations", "authorization.k8s.io/decision")
    f_ka_auth_reason = _str_field("ka.auth.reason", "The authorization reason",
                                  "annotations", "authorization.k8s.io/reason")
    f_ka_auth_openshift_decision = _str_field(
        "ka.auth.openshift.decision",
        "The authentication decision of the openshfit apiserver extention. Only available on openshift clusters",
        "annotations", "authentication.openshift.io/decision")
    f_ka_validations_admission_policy_failure = _str_field(
        "ka.validations.admission.policy.failure", "The validation failure reason from a Validation Admission Policy",
        "annotations", "validation.policy.admission.k8s.io/validation_failure")
    f_ka_security_pod_violations = _str_field(
        "ka.security.pod.violations", "The violation reason for pod security policy",
        "annotations", "pod-security.kubernetes.io/audit-violations")
    f_ka_auth_openshift_username = _str_field(
        "ka.auth.openshift.username",
        "The user name performing the openshift authentication operation. Only available on openshift clusters",
        "annotations", "authentication.openshift.io/username")
    f_ka_user_name = _str_field("ka.user.name", "The user name performing the request", "user", "username")
    f_ka_user_groups = _strlist_field("ka.user.groups", "The groups to which the user belongs", "user", "groups")
    f_ka_impuser_name = _str_field("ka.impuser.name", "The impersonated user name", "impersonatedUser", "username")
    f_ka_verb = _str_field("ka.verb", "The action being performed", "verb")
    f_ka_uri = _str_field("ka.uri", "The request URI as sent from client to server", "requestURI")

    @field("ka.uri.param", desc="The value of a given query parameter in the uri (e.g. when uri=/foo?key=val, "
           "ka.uri.param[key] is val).", arg=Key(required=True))
    def f_ka_uri_param(self, event: Event, key: str) -> str | None:
        audit = self.audit(event)
        uri = MISSING if audit is None else get(audit, "requestURI")
        return None if uri is MISSING else go_query_param(as_str(uri), key)

    f_ka_target_name = _str_field("ka.target.name", "The target object name", "objectRef", "name")
    f_ka_target_namespace = _str_field("ka.target.namespace", "The target object namespace",
                                       "objectRef", "namespace")
    f_ka_target_resource = _str_field("ka.target.resource", "The target object resource", "objectRef", "resource")
    f_ka_target_subresource = _str_field("ka.target.subresource", "The target object subresource",
                                         "objectRef", "subresource")

    @field("ka.target.pod.name", desc="The target pod name")
    def f_ka_target_pod_name(self, event: Event) -> str | None:
        # upstream: the response object's name, for the pods resource itself (no subresource)
        audit = self.audit(event)
        if audit is None or get(audit, "objectRef", "resource") != "pods":
            return None
        if get(audit, "objectRef", "subresource") not in (MISSING, ""):
            return None
        name = get(audit, "responseObject", "metadata", "name")
        return None if name is MISSING else as_str(name)

    f_ka_req_binding_subjects = _strlist_field(
        "ka.req.binding.subjects",
        "When the request object refers to a cluster role binding, the subject (e.g. account/users) being linked by "
        "the binding", "requestObject", "subjects")
    f_ka_req_binding_subjects_user_names = _subjects_field(
        "ka.req.binding.subjects.user_names",
        "When the request object refers to a cluster role binding, the subject user names being linked by the binding",
        "User")
    f_ka_req_binding_subjects_serviceaccount_names = _subjects_field(
        "ka.req.binding.subjects.serviceaccount_names",
        "When the request object refers to a cluster role binding, the subject service account names being linked "
        "by the binding", "ServiceAccount")
    f_ka_req_binding_subjects_serviceaccount_ns_names = _subjects_field(
        "ka.req.binding.subjects.serviceaccount_ns_names",
        "When the request object refers to a cluster role binding, the subject serviceaccount namespaced names being "
        "linked by the binding, e.g. a list containing: mynamespace:myserviceaccount", "ServiceAccount",
        namespaced=True)
    f_ka_req_binding_subjects_group_names = _subjects_field(
        "ka.req.binding.subjects.group_names",
        "When the request object refers to a cluster role binding, the subject group names being linked by the "
        "binding", "Group")
    f_ka_req_binding_role = _str_field(
        "ka.req.binding.role",
        "When the request object refers to a cluster role binding, the role being linked by the binding",
        "requestObject", "roleRef", "name")

    @field("ka.req.binding.subject.has_name", desc='Deprecated, always returns "N/A". Only provided for backwards '
           "compatibility", arg=Key(required=True))
    def f_ka_req_binding_subject_has_name(self, event: Event, key: str) -> str | None:
        # documented as "N/A", but upstream (like the legacy implementation) answers "true"
        return None if self.audit(event) is None else "true"

    f_ka_req_configmap_name = _str_field("ka.req.configmap.name",
                                         "If the request object refers to a configmap, the configmap name",
                                         "objectRef", "name")
    f_ka_req_configmap_obj = _str_field("ka.req.configmap.obj",
                                        "If the request object refers to a configmap, the entire configmap object",
                                        "requestObject", "data")

    @field("ka.req.container.image", desc="Deprecated by ka.req.pod.containers.image. Returns the image of the "
           "first container only")
    def f_ka_req_container_image(self, event: Event) -> str | None:
        audit = self.audit(event)
        images = None if audit is None else _images("containers", 0, audit)
        return images[0] if images else None

    @field("ka.req.container.image.repository", desc="Deprecated by ka.req.pod.containers.image.repository. "
           "Returns the repository of the first container only")
    def f_ka_req_container_image_repository(self, event: Event) -> str | None:
        image = self.f_ka_req_container_image(event)
        if image is None:
            return None
        return image_repository(image) if self.corrections.imageRepository else upstream_image_repository(image)

    f_ka_req_pod_host_ipc = _str_field("ka.req.pod.host_ipc",
                                       "When the request object refers to a pod, the value of the hostIPC flag.",
                                       "requestObject", "spec", "hostIPC")
    f_ka_req_pod_host_network = _str_field(
        "ka.req.pod.host_network", "When the request object refers to a pod, the value of the hostNetwork flag.",
        "requestObject", "spec", "hostNetwork")
    f_ka_req_container_host_network = _str_field("ka.req.container.host_network",
                                                 "Deprecated alias for ka.req.pod.host_network",
                                                 "requestObject", "spec", "hostNetwork")
    f_ka_req_pod_host_pid = _str_field("ka.req.pod.host_pid",
                                       "When the request object refers to a pod, the value of the hostPID flag.",
                                       "requestObject", "spec", "hostPID")

    @field("ka.req.container.privileged", desc="Deprecated by ka.req.pod.containers.privileged. Returns true if "
           "any container has privileged=true")
    def f_ka_req_container_privileged(self, event: Event) -> str | None:
        audit = self.audit(event)
        found = None if audit is None else values_at(
            audit, None, ("requestObject", "spec", "containers", "securityContext", "privileged"))
        if found is None:
            return None
        return "true" if any(v is True for v in found) else "false"

    f_ka_req_pod_run_as_user = _str_field(
        "ka.req.pod.run_as_user",
        "When the request object refers to a pod, the runAsUser uid specified in the security context for the pod. "
        "See ....containers.run_as_user for the runAsUser for individual containers",
        "requestObject", "spec", "securityContext", "runAsUser")
    f_ka_req_pod_run_as_group = _str_field(
        "ka.req.pod.run_as_group",
        "When the request object refers to a pod, the runAsGroup gid specified in the security context for the pod. "
        "See ....containers.run_as_group for the runAsGroup for individual containers",
        "requestObject", "spec", "securityContext", "runAsGroup")
    f_ka_req_role_rules = _strlist_field(
        "ka.req.role.rules",
        "When the request object refers to a role/cluster role, the rules associated with the role",
        "requestObject", "rules")
    f_ka_req_role_rules_apiGroups = _rules_field("apiGroups", "api groups")
    f_ka_req_role_rules_nonResourceURLs = _rules_field("nonResourceURLs", "non resource urls")
    f_ka_req_role_rules_verbs = _rules_field("verbs", "verbs")
    f_ka_req_role_rules_resources = _rules_field("resources", "resources")
    f_ka_req_pod_fs_group = _str_field(
        "ka.req.pod.fs_group", "When the request object refers to a pod, the fsGroup gid specified by the security "
        "context.", "requestObject", "spec", "securityContext", "fsGroup")
    f_ka_req_pod_supplemental_groups = _strlist_field(
        "ka.req.pod.supplemental_groups", "When the request object refers to a pod, the supplementalGroup gids "
        "specified by the security context.", "requestObject", "spec", "securityContext", "supplementalGroups")
    f_ka_req_service_type = _str_field("ka.req.service.type",
                                       "When the request object refers to a service, the service type",
                                       "requestObject", "spec", "type")
    f_ka_req_service_ports = _list_field("ka.req.service.ports",
                                         "When the request object refers to a service, the service's ports",
                                         _upstream_service_ports, _service_ports, "servicePorts")
    f_ka_req_pod_volumes_hostpath = _list_field(
        "ka.req.pod.volumes.hostpath",
        "When the request object refers to a pod, all hostPath paths specified for all volumes",
        _volumes("hostPath", "path"))

    @field("ka.req.volume.hostpath", desc="Deprecated by ka.req.pod.volumes.hostpath. Return true if the provided "
           "(host) path prefix is used by any volume", arg=Key(required=True))
    def f_ka_req_volume_hostpath(self, event: Event, key: str) -> str | None:
        audit = self.audit(event)
        # upstream takes the argument's arg_index as a volume index: libsinsp before 0.24 passes 0 for
        # a key argument (the first volume only), later ones pass none (every volume)
        volume = 0 if self.hostpath_first_volume else None
        paths = None if audit is None else _volumes("hostPath", "path")(audit, volume)
        if paths is None:
            return None
        prefix = key[:-1] if key.endswith("*") else None  # "/etc*": a prefix; "/etc": that path
        hit = any(p == key or (prefix is not None and p.startswith(prefix)) for p in paths)
        return "true" if hit else "false"

    f_ka_req_pod_volumes_flexvolume_driver = _list_field(
        "ka.req.pod.volumes.flexvolume_driver",
        "When the request object refers to a pod, all flexvolume drivers specified for all volumes",
        _volumes("flexVolume", "driver"))
    f_ka_req_pod_volumes_volume_type = _list_field(
        "ka.req.pod.volumes.volume_type", "When the request object refers to a pod, all volume types for all volumes",
        _volume_types)
    f_ka_resp_name = _str_field("ka.resp.name", "The response object name", "responseObject", "metadata", "name")
    f_ka_response_code = _str_field("ka.response.code", "The response code", "responseStatus", "code")
    f_ka_response_reason = _str_field("ka.response.reason", "The response reason (usually present only for failures)",
                                      "responseStatus", "reason")
    f_ka_useragent = _str_field("ka.useragent", "The useragent of the client who made the request to the apiserver",
                                "userAgent")
    f_ka_sourceips = _list_field("ka.sourceips", "The IP addresses of the client who made the request to the "
                                 "apiserver", _upstream_source_ips, _source_ips, "sourceIPs")
    f_ka_cluster_name = _str_field("ka.cluster.name", "The name of the k8s cluster", "annotations", "cluster_name")


# ka.req.pod.containers.*, ka.req.pod.initContainers.*, ka.req.pod.ephemeralContainers.* (no host_port)
for _lst, _prefix, _what in CONTAINER_LISTS:
    for _attr, _method in _container_family(_lst, _prefix, _what, host_port=_lst != "ephemeralContainers"):
        setattr(AuditFields, _attr, _method)
