"""Realistic ``audit.k8s.io/v1`` events, each with every field value that upstream's semantics give.

A case lists every field (and argument form) that has a value on its event; every other field
asked has none. The values are upstream's (its ``extract.go``, 0.18.0), which the plugin gives by
default; ``SWITCHED`` has the values that change when one of the plugin's switches is on
(examples/k8saudit/README.md, "Differences from upstream")."""

from __future__ import annotations

from typing import Any

Case = tuple[str, dict[str, Any], dict[str, Any]]

AUTH_DEV = 'RBAC: allowed by ClusterRoleBinding "devs" of ClusterRole "edit" to Group "developers"'
PSA = ('would violate PodSecurity "restricted:latest": privileged (container "sidecar" must not set '
       "securityContext.privileged=true)")

POD = {
    "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse",
    "auditID": "4f1a8c2e-9b7d-4c1e-8a1f-2d3b4c5d6e7f", "stage": "ResponseComplete",
    "requestURI": "/api/v1/namespaces/default/pods?fieldManager=kubectl-client-side-apply&fieldValidation=Strict",
    "verb": "create",
    "user": {"username": "alice@example.com", "groups": ["developers", "system:authenticated"]},
    "impersonatedUser": {"username": "system:serviceaccount:ci:deployer"},
    "sourceIPs": ["10.0.0.12", "192.168.1.7"],
    "userAgent": "kubectl/v1.29.1 (linux/amd64) kubernetes/bc401b9",
    "objectRef": {"resource": "pods", "namespace": "default", "name": "web", "apiVersion": "v1"},
    "responseStatus": {"metadata": {}, "code": 201},
    "requestObject": {
        "kind": "Pod", "apiVersion": "v1", "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "hostNetwork": True, "hostPID": False, "hostIPC": True,
            "securityContext": {"runAsUser": 1000, "runAsGroup": 3000, "fsGroup": 2000,
                                "supplementalGroups": [4000, 5000]},
            "initContainers": [{"name": "init-perms", "image": "busybox:1.36",
                                "command": ["sh", "-c", "chown -R 1000 /data"],
                                "ports": [{"containerPort": 9000}],
                                "securityContext": {"privileged": True, "runAsUser": 0}}],
            "containers": [
                {"name": "nginx", "image": "registry.example.com:5000/web/nginx:1.25.3",
                 "ports": [{"containerPort": 80, "hostPort": 8080}, {"containerPort": 443}],
                 "securityContext": {"privileged": False, "allowPrivilegeEscalation": False,
                                     "readOnlyRootFilesystem": True, "runAsUser": 101,
                                     "capabilities": {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]},
                                     "procMount": "Default"}},
                {"name": "sidecar", "image": "falcosecurity/falco@sha256:0123456789abcdef",
                 "command": ["/bin/sh"], "args": ["-c", "sleep infinity"],
                 "securityContext": {"privileged": True, "runAsGroup": 0,
                                     "capabilities": {"add": ["SYS_ADMIN", "NET_ADMIN"]}}},
                {"name": "logger", "image": "fluent/fluent-bit"},
            ],
            "volumes": [
                {"name": "docker-sock", "hostPath": {"path": "/var/run/docker.sock", "type": "Socket"}},
                {"name": "etc", "hostPath": {"path": "/etc/kubernetes"}},
                {"name": "cache", "emptyDir": {}},
                {"name": "flex", "flexVolume": {"driver": "example.com/lvm", "fsType": "ext4"}},
            ],
        },
    },
    "responseObject": {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "web", "namespace": "default",
                                                                     "uid": "0b4c1f9e-5d0e-4f7a-9a0e-1c2d3e4f5a6b"}},
    "requestReceivedTimestamp": "2024-03-05T10:11:12.123456Z",
    "stageTimestamp": "2024-03-05T10:11:12.234567Z",
    "annotations": {"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": AUTH_DEV,
                    "pod-security.kubernetes.io/audit-violations": PSA, "cluster_name": "prod-eu-1"},
}

POD_EXPECTED: dict[str, Any] = {
    "ka.auditid": "4f1a8c2e-9b7d-4c1e-8a1f-2d3b4c5d6e7f",
    "ka.stage": "ResponseComplete",
    "ka.auth.decision": "allow",
    "ka.auth.reason": AUTH_DEV,
    "ka.security.pod.violations": PSA,
    "ka.cluster.name": "prod-eu-1",
    "ka.user.name": "alice@example.com",
    "ka.user.groups": ["developers", "system:authenticated"],
    "ka.impuser.name": "system:serviceaccount:ci:deployer",
    "ka.verb": "create",
    "ka.uri": "/api/v1/namespaces/default/pods?fieldManager=kubectl-client-side-apply&fieldValidation=Strict",
    "ka.uri.param[fieldManager]": "kubectl-client-side-apply",
    "ka.target.name": "web",
    "ka.target.namespace": "default",
    "ka.target.resource": "pods",
    "ka.target.pod.name": "web",
    "ka.req.binding.subject.has_name[anyone]": "true",
    "ka.req.configmap.name": "web",  # objectRef.name, whatever the resource (upstream too)
    "ka.req.pod.containers.name": ["nginx", "sidecar", "logger"],
    "ka.req.pod.containers.name[2]": ["logger"],
    "ka.req.pod.containers.image": ["registry.example.com:5000/web/nginx:1.25.3",
                                    "falcosecurity/falco@sha256:0123456789abcdef", "fluent/fluent-bit"],
    "ka.req.pod.containers.image[1]": ["falcosecurity/falco@sha256:0123456789abcdef"],
    "ka.req.pod.containers.image.repository": ["registry.example.com", "falcosecurity/falco", "fluent/fluent-bit"],
    "ka.req.container.image": "registry.example.com:5000/web/nginx:1.25.3",
    "ka.req.container.image.repository": "registry.example.com",
    "ka.req.pod.containers.command": ["/bin/sh"],
    "ka.req.pod.containers.args": ["-c sleep infinity"],  # each container's list joined by spaces
    "ka.req.pod.containers.privileged": ["false", "true"],  # logger sets nothing: no entry
    "ka.req.pod.containers.privileged[1]": ["true"],
    "ka.req.container.privileged": "true",
    "ka.req.pod.containers.allow_privilege_escalation": ["false"],
    "ka.req.pod.containers.read_only_fs": ["true"],
    "ka.req.pod.containers.run_as_user": ["101"],
    # spec.runAsUser and containers[].runAsUser (outside securityContext): absent, so 0
    "ka.req.pod.containers.eff_run_as_user": ["0", "0", "0"],
    "ka.req.pod.containers.eff_run_as_user[2]": None,  # with an index, an absent runAsUser is no value
    "ka.req.pod.containers.run_as_group": ["0"],
    "ka.req.pod.containers.eff_run_as_group": ["0", "0", "0"],
    "ka.req.pod.containers.proc_mount": ["Default"],
    "ka.req.pod.containers.add_capabilities": ['["NET_BIND_SERVICE"]', '["SYS_ADMIN","NET_ADMIN"]'],
    "ka.req.pod.containers.add_capabilities[1]": ['["SYS_ADMIN","NET_ADMIN"]'],
    "ka.req.pod.containers.host_port": ["8080", "443"],
    "ka.req.pod.containers.host_port[0]": ["8080", "443"],
    "ka.req.pod.host_ipc": "true",
    "ka.req.pod.host_network": "true",
    "ka.req.container.host_network": "true",
    "ka.req.pod.host_pid": "false",
    "ka.req.pod.run_as_user": "1000",
    "ka.req.pod.run_as_group": "3000",
    "ka.req.pod.fs_group": "2000",
    "ka.req.pod.supplemental_groups": ["4000", "5000"],
    "ka.req.pod.volumes.hostpath": ["/var/run/docker.sock", "/etc/kubernetes"],
    "ka.req.pod.volumes.hostpath[1]": ["/etc/kubernetes"],
    "ka.req.volume.hostpath[/etc*]": "true",
    "ka.req.volume.hostpath[/etc/kubernetes]": "true",  # volume 1 (libsinsp < 0.24: volume 0 only)
    "ka.req.volume.hostpath[/proc]": "false",
    "ka.req.pod.volumes.flexvolume_driver": ["example.com/lvm"],
    "ka.req.pod.volumes.volume_type": ["hostPath", "hostPath", "emptyDir", "flexVolume"],
    "ka.req.pod.volumes.volume_type[2]": ["emptyDir"],
    "ka.req.pod.initContainers.name": ["init-perms"],
    "ka.req.pod.initContainers.image": ["busybox:1.36"],
    "ka.req.pod.initContainers.image.repository": ["busybox"],
    "ka.req.pod.initContainers.command": ["sh -c chown -R 1000 /data"],
    "ka.req.pod.initContainers.privileged": ["true"],
    "ka.req.pod.initContainers.run_as_user": ["0"],
    "ka.req.pod.initContainers.eff_run_as_user": ["0"],
    "ka.req.pod.initContainers.eff_run_as_group": ["0"],
    "ka.req.pod.initContainers.host_port": ["9000"],
    "ka.resp.name": "web",
    "ka.response.code": "201",
    "ka.useragent": "kubectl/v1.29.1 (linux/amd64) kubernetes/bc401b9",
    # ka.sourceips: none (upstream reads requestObject.rules[].sourceIPs)
}

CRB = {
    "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse",
    "auditID": "a0c3e1d2-77f4-4b6b-9e55-0f1e2d3c4b5a", "stage": "ResponseComplete",
    "requestURI": "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", "verb": "create",
    "user": {"username": "bob", "groups": ["system:authenticated:oauth", "system:authenticated"]},
    "sourceIPs": ["172.16.4.20"], "userAgent": "oc/4.15.0 (linux/amd64) kubernetes/2bf5b1f",
    "objectRef": {"resource": "clusterrolebindings", "name": "ops-admin", "apiGroup": "rbac.authorization.k8s.io",
                  "apiVersion": "v1"},
    "responseStatus": {"metadata": {}, "code": 201},
    "requestObject": {
        "kind": "ClusterRoleBinding", "apiVersion": "rbac.authorization.k8s.io/v1", "metadata": {"name": "ops-admin"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [
            {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "carol@example.com"},
            {"kind": "ServiceAccount", "name": "deployer", "namespace": "ci"},
            {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "ops"},
            {"kind": "ServiceAccount", "name": "builder"},
        ],
    },
    "responseObject": {"kind": "ClusterRoleBinding", "metadata": {"name": "ops-admin"}},
    "requestReceivedTimestamp": "2024-03-05T10:12:00.000001Z", "stageTimestamp": "2024-03-05T10:12:00.004321Z",
    "annotations": {"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": "",
                    "authentication.openshift.io/decision": "allow", "authentication.openshift.io/username": "bob"},
}

CRB_EXPECTED: dict[str, Any] = {
    "ka.auditid": "a0c3e1d2-77f4-4b6b-9e55-0f1e2d3c4b5a", "ka.stage": "ResponseComplete",
    "ka.auth.decision": "allow", "ka.auth.reason": "",
    "ka.auth.openshift.decision": "allow", "ka.auth.openshift.username": "bob",
    "ka.user.name": "bob", "ka.user.groups": ["system:authenticated:oauth", "system:authenticated"],
    "ka.verb": "create", "ka.uri": "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
    "ka.target.name": "ops-admin", "ka.target.resource": "clusterrolebindings",
    "ka.req.binding.subjects": [
        '{"kind":"User","apiGroup":"rbac.authorization.k8s.io","name":"carol@example.com"}',
        '{"kind":"ServiceAccount","name":"deployer","namespace":"ci"}',
        '{"kind":"Group","apiGroup":"rbac.authorization.k8s.io","name":"ops"}',
        '{"kind":"ServiceAccount","name":"builder"}',
    ],
    "ka.req.binding.subjects.user_names": ["carol@example.com"],
    "ka.req.binding.subjects.serviceaccount_names": ["deployer", "builder"],
    "ka.req.binding.subjects.serviceaccount_ns_names": ["ci:deployer"],  # builder has no namespace: skipped
    "ka.req.binding.subjects.group_names": ["ops"],
    "ka.req.binding.role": "cluster-admin",
    "ka.req.binding.subject.has_name[anyone]": "true",
    "ka.req.configmap.name": "ops-admin",
    "ka.resp.name": "ops-admin", "ka.response.code": "201",
    "ka.useragent": "oc/4.15.0 (linux/amd64) kubernetes/2bf5b1f",
}

ROLE = {
    "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse",
    "auditID": "c2d4e6f8-0a1b-4c3d-8e5f-6a7b8c9d0e1f", "stage": "ResponseComplete",
    "requestURI": "/apis/rbac.authorization.k8s.io/v1/clusterroles", "verb": "create",
    "user": {"username": "kubernetes-admin", "groups": ["kubeadm:cluster-admins", "system:authenticated"]},
    "sourceIPs": ["192.168.49.1"],
    "objectRef": {"resource": "clusterroles", "name": "pod-exec", "apiGroup": "rbac.authorization.k8s.io",
                  "apiVersion": "v1"},
    "responseStatus": {"metadata": {}, "code": 201},
    "requestObject": {
        "kind": "ClusterRole", "apiVersion": "rbac.authorization.k8s.io/v1", "metadata": {"name": "pod-exec"},
        "rules": [
            {"apiGroups": [""], "resources": ["pods", "pods/exec"], "verbs": ["get", "create"]},
            {"nonResourceURLs": ["/healthz", "/metrics"], "verbs": ["get"]},
            {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["*"]},
        ],
    },
    "requestReceivedTimestamp": "2024-03-05T10:13:00.5Z", "stageTimestamp": "2024-03-05T10:13:00.75Z",
    "annotations": {"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": ""},
}

ROLE_EXPECTED: dict[str, Any] = {
    "ka.auditid": "c2d4e6f8-0a1b-4c3d-8e5f-6a7b8c9d0e1f", "ka.stage": "ResponseComplete",
    "ka.auth.decision": "allow", "ka.auth.reason": "",
    "ka.user.name": "kubernetes-admin", "ka.user.groups": ["kubeadm:cluster-admins", "system:authenticated"],
    "ka.verb": "create", "ka.uri": "/apis/rbac.authorization.k8s.io/v1/clusterroles",
    "ka.target.name": "pod-exec", "ka.target.resource": "clusterroles",
    "ka.req.binding.subject.has_name[anyone]": "true", "ka.req.configmap.name": "pod-exec",
    "ka.req.role.rules": [
        '{"apiGroups":[""],"resources":["pods","pods/exec"],"verbs":["get","create"]}',
        '{"nonResourceURLs":["/healthz","/metrics"],"verbs":["get"]}',
        '{"apiGroups":["apps"],"resources":["deployments"],"verbs":["*"]}',
    ],
    "ka.req.role.rules.apiGroups": ["", "apps"],
    "ka.req.role.rules.apiGroups[2]": ["apps"],
    "ka.req.role.rules.nonResourceURLs": ["/healthz", "/metrics"],
    "ka.req.role.rules.verbs": ["get", "create", "get", "*"],
    "ka.req.role.rules.verbs[1]": ["get"],
    "ka.req.role.rules.resources": ["pods", "pods/exec", "deployments"],
    "ka.req.role.rules.resources[1]": None,  # rule 1 has no resources
    "ka.response.code": "201",
}

CONFIGMAP = {
    "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse",
    "auditID": "e1f2a3b4-c5d6-4e7f-8091-a2b3c4d5e6f7", "stage": "ResponseComplete",
    "requestURI": "/api/v1/namespaces/shop/configmaps/app-config?fieldManager=kubectl-edit", "verb": "update",
    "user": {"username": "system:serviceaccount:shop:ci", "groups": ["system:serviceaccounts",
                                                                   "system:serviceaccounts:shop",
                                                                   "system:authenticated"]},
    "sourceIPs": ["10.1.2.3"], "userAgent": "argocd-application-controller/v0.0.0",
    "objectRef": {"resource": "configmaps", "namespace": "shop", "name": "app-config", "apiVersion": "v1"},
    "responseStatus": {"metadata": {}, "code": 200},
    "requestObject": {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "app-config", "namespace": "shop"},
                      "data": {"db_password": "hunter2", "mode": "prod"}},
    "responseObject": {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "app-config"}},
    "requestReceivedTimestamp": "2024-03-05T10:14:00Z", "stageTimestamp": "2024-03-05T10:14:00.001Z",
    "annotations": {"authorization.k8s.io/decision": "allow",
                    "authorization.k8s.io/reason": 'RBAC: allowed by RoleBinding "ci/shop" of Role "cm-edit"',
                    "validation.policy.admission.k8s.io/validation_failure":
                        '[{"message":"no secrets in configmaps","policy":"cm-policy","binding":"cm-binding",'
                        '"expressionIndex":0,"validationActions":["Audit"]}]'},
}

CONFIGMAP_EXPECTED: dict[str, Any] = {
    "ka.auditid": "e1f2a3b4-c5d6-4e7f-8091-a2b3c4d5e6f7", "ka.stage": "ResponseComplete",
    "ka.auth.decision": "allow", "ka.auth.reason": 'RBAC: allowed by RoleBinding "ci/shop" of Role "cm-edit"',
    "ka.validations.admission.policy.failure":
        '[{"message":"no secrets in configmaps","policy":"cm-policy","binding":"cm-binding",'
        '"expressionIndex":0,"validationActions":["Audit"]}]',
    "ka.user.name": "system:serviceaccount:shop:ci",
    "ka.user.groups": ["system:serviceaccounts", "system:serviceaccounts:shop", "system:authenticated"],
    "ka.verb": "update", "ka.uri": "/api/v1/namespaces/shop/configmaps/app-config?fieldManager=kubectl-edit",
    "ka.uri.param[fieldManager]": "kubectl-edit",
    "ka.target.name": "app-config", "ka.target.namespace": "shop", "ka.target.resource": "configmaps",
    "ka.req.binding.subject.has_name[anyone]": "true",
    "ka.req.configmap.name": "app-config",
    "ka.req.configmap.obj": '{"db_password":"hunter2","mode":"prod"}',
    "ka.resp.name": "app-config", "ka.response.code": "200",
    "ka.useragent": "argocd-application-controller/v0.0.0",
}


def _subresource_event(audit_id: str, sub: str, query: str, ts: str) -> dict[str, Any]:
    return {
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Request", "auditID": audit_id,
        "stage": "ResponseStarted", "requestURI": f"/api/v1/namespaces/default/pods/web/{sub}?{query}",
        "verb": "create",
        "user": {"username": "kubernetes-admin", "groups": ["system:masters", "system:authenticated"]},
        "sourceIPs": ["192.168.49.1"], "userAgent": "kubectl/v1.29.1 (linux/amd64) kubernetes/bc401b9",
        "objectRef": {"resource": "pods", "namespace": "default", "name": "web", "apiVersion": "v1",
                      "subresource": sub},
        "responseStatus": {"metadata": {}, "code": 101},
        "requestReceivedTimestamp": ts, "stageTimestamp": ts,
        "annotations": {"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": ""},
    }


EXEC = _subresource_event("0e9d8c7b-6a5f-4e3d-2c1b-0a9f8e7d6c5b", "exec",
                          "command=sh&command=-c&command=id&container=nginx&stdin=true&stdout=true&tty=true",
                          "2024-03-05T10:15:00.000000001Z")
ATTACH = _subresource_event("1f2e3d4c-5b6a-4798-8a7b-6c5d4e3f2a1b", "attach",
                            "container=nginx&stdin=true&stdout=true&tty=true", "2024-03-05T10:15:30.999999999Z")


def _subresource_expected(e: dict[str, Any], sub: str) -> dict[str, Any]:
    return {
        "ka.auditid": e["auditID"], "ka.stage": "ResponseStarted", "ka.auth.decision": "allow", "ka.auth.reason": "",
        "ka.user.name": "kubernetes-admin", "ka.user.groups": ["system:masters", "system:authenticated"],
        "ka.verb": "create", "ka.uri": e["requestURI"], "ka.target.name": "web", "ka.target.namespace": "default",
        "ka.target.resource": "pods", "ka.target.subresource": sub,  # a subresource: no ka.target.pod.name
        "ka.req.binding.subject.has_name[anyone]": "true", "ka.req.configmap.name": "web",
        "ka.response.code": "101", "ka.useragent": "kubectl/v1.29.1 (linux/amd64) kubernetes/bc401b9",
    }


EXEC_EXPECTED = {**_subresource_expected(EXEC, "exec"), "ka.uri.param[command]": "sh"}  # the first of three
ATTACH_EXPECTED = _subresource_expected(ATTACH, "attach")

ANONYMOUS = {
    "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
    "auditID": "9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d", "stage": "ResponseComplete",
    "requestURI": "/api/v1/namespaces/kube-system/secrets?limit=500", "verb": "list",
    "user": {"username": "system:anonymous", "groups": ["system:unauthenticated"]},
    "sourceIPs": ["203.0.113.50"], "userAgent": "curl/8.5.0",
    "objectRef": {"resource": "secrets", "namespace": "kube-system", "apiVersion": "v1"},
    "responseStatus": {"metadata": {}, "status": "Failure", "message": "secrets is forbidden: User "
                       '"system:anonymous" cannot list resource "secrets"', "reason": "Forbidden", "code": 403},
    "requestReceivedTimestamp": "2024-03-05T10:16:00.100Z", "stageTimestamp": "2024-03-05T10:16:00.101Z",
    "annotations": {"authorization.k8s.io/decision": "forbid", "authorization.k8s.io/reason": ""},
}

ANONYMOUS_EXPECTED: dict[str, Any] = {
    "ka.auditid": "9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d", "ka.stage": "ResponseComplete",
    "ka.auth.decision": "forbid", "ka.auth.reason": "",
    "ka.user.name": "system:anonymous", "ka.user.groups": ["system:unauthenticated"],
    "ka.verb": "list", "ka.uri": "/api/v1/namespaces/kube-system/secrets?limit=500", "ka.uri.param[limit]": "500",
    "ka.target.namespace": "kube-system", "ka.target.resource": "secrets",
    "ka.req.binding.subject.has_name[anyone]": "true",
    "ka.response.code": "403", "ka.response.reason": "Forbidden", "ka.useragent": "curl/8.5.0",
}

SERVICE = {
    "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse",
    "auditID": "5c4b3a29-1807-4f6e-9d5c-4b3a29180706", "stage": "ResponseComplete",
    "requestURI": "/api/v1/namespaces/default/services", "verb": "create",
    "user": {"username": "alice@example.com", "groups": ["developers", "system:authenticated"]},
    "sourceIPs": ["10.0.0.12"],
    "objectRef": {"resource": "services", "namespace": "default", "name": "web", "apiVersion": "v1"},
    "responseStatus": {"metadata": {}, "code": 201},
    "requestObject": {"kind": "Service", "apiVersion": "v1", "metadata": {"name": "web"},
                      "spec": {"type": "NodePort", "selector": {"app": "web"},
                               "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080,
                                          "protocol": "TCP"},
                                         {"name": "https", "port": 443, "protocol": "TCP"}]}},
    "requestReceivedTimestamp": "2024-03-05T10:17:00Z", "stageTimestamp": "2024-03-05T10:17:00.01Z",
    "annotations": {"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": AUTH_DEV},
}

SERVICE_PORTS = ('[{"name":"http","port":80,"targetPort":8080,"nodePort":30080,"protocol":"TCP"},'
                 '{"name":"https","port":443,"protocol":"TCP"}]')

SERVICE_EXPECTED: dict[str, Any] = {
    "ka.auditid": "5c4b3a29-1807-4f6e-9d5c-4b3a29180706", "ka.stage": "ResponseComplete",
    "ka.auth.decision": "allow", "ka.auth.reason": AUTH_DEV,
    "ka.user.name": "alice@example.com", "ka.user.groups": ["developers", "system:authenticated"],
    "ka.verb": "create", "ka.uri": "/api/v1/namespaces/default/services", "ka.target.name": "web",
    "ka.target.namespace": "default", "ka.target.resource": "services",
    "ka.req.binding.subject.has_name[anyone]": "true", "ka.req.configmap.name": "web",
    "ka.req.service.type": "NodePort",
    # one string with the whole array; the index changes nothing
    "ka.req.service.ports": [SERVICE_PORTS], "ka.req.service.ports[1]": [SERVICE_PORTS],
    "ka.response.code": "201",
}

EPHEMERAL = {
    "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse",
    "auditID": "7d6c5b4a-3928-4716-8051-4a3b2c1d0e9f", "stage": "ResponseComplete",
    "requestURI": "/api/v1/namespaces/default/pods/web/ephemeralcontainers", "verb": "patch",
    "user": {"username": "kubernetes-admin", "groups": ["system:masters", "system:authenticated"]},
    "sourceIPs": ["192.168.49.1"],
    "objectRef": {"resource": "pods", "namespace": "default", "name": "web", "apiVersion": "v1",
                  "subresource": "ephemeralcontainers"},
    "responseStatus": {"metadata": {}, "code": 200},
    "requestObject": {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "web", "namespace": "default"},
                      "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25"}],
                               "ephemeralContainers": [
                                   {"name": "debugger-8xkq2", "image": "docker.io/library/busybox:latest",
                                    "command": ["sh"], "args": ["-c", "cat /proc/1/environ"],
                                    "targetContainerName": "nginx",
                                    "securityContext": {"privileged": True, "allowPrivilegeEscalation": True,
                                                        "readOnlyRootFilesystem": False, "runAsUser": 0,
                                                        "runAsGroup": 0, "procMount": "Unmasked",
                                                        "capabilities": {"add": ["SYS_PTRACE"]}}}]}},
    "requestReceivedTimestamp": "2024-03-05T10:18:00Z", "stageTimestamp": "2024-03-05T10:18:00.02Z",
    "annotations": {"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": ""},
}

EPHEMERAL_EXPECTED: dict[str, Any] = {
    "ka.auditid": "7d6c5b4a-3928-4716-8051-4a3b2c1d0e9f", "ka.stage": "ResponseComplete",
    "ka.auth.decision": "allow", "ka.auth.reason": "",
    "ka.user.name": "kubernetes-admin", "ka.user.groups": ["system:masters", "system:authenticated"],
    "ka.verb": "patch", "ka.uri": "/api/v1/namespaces/default/pods/web/ephemeralcontainers",
    "ka.target.name": "web", "ka.target.namespace": "default", "ka.target.resource": "pods",
    "ka.target.subresource": "ephemeralcontainers",
    "ka.req.binding.subject.has_name[anyone]": "true", "ka.req.configmap.name": "web",
    "ka.req.pod.containers.name": ["nginx"], "ka.req.pod.containers.name[2]": None,
    "ka.req.pod.containers.image": ["nginx:1.25"], "ka.req.pod.containers.image[1]": None,
    "ka.req.pod.containers.image.repository": ["nginx"],
    "ka.req.container.image": "nginx:1.25", "ka.req.container.image.repository": "nginx",
    "ka.req.container.privileged": "false",
    "ka.req.pod.containers.eff_run_as_user": ["0"], "ka.req.pod.containers.eff_run_as_group": ["0"],
    "ka.req.pod.ephemeralContainers.name": ["debugger-8xkq2"],
    "ka.req.pod.ephemeralContainers.image": ["docker.io/library/busybox:latest"],
    "ka.req.pod.ephemeralContainers.image.repository": ["docker.io/library/busybox"],
    "ka.req.pod.ephemeralContainers.command": ["sh"],
    "ka.req.pod.ephemeralContainers.args": ["-c cat /proc/1/environ"],
    "ka.req.pod.ephemeralContainers.privileged": ["true"],
    "ka.req.pod.ephemeralContainers.allow_privilege_escalation": ["true"],
    "ka.req.pod.ephemeralContainers.read_only_fs": ["false"],
    "ka.req.pod.ephemeralContainers.run_as_user": ["0"],
    "ka.req.pod.ephemeralContainers.eff_run_as_user": ["0"],
    "ka.req.pod.ephemeralContainers.run_as_group": ["0"],
    "ka.req.pod.ephemeralContainers.eff_run_as_group": ["0"],
    "ka.req.pod.ephemeralContainers.proc_mount": ["Unmasked"],
    "ka.req.pod.ephemeralContainers.add_capabilities": ['["SYS_PTRACE"]'],
    "ka.response.code": "200",
}

INIT_ONLY = {  # an init container with the security settings the main one lacks
    **POD, "auditID": "b1b2b3b4-c5c6-4d7d-8e8e-f9f0a1a2b3b4", "annotations": {},
    "requestObject": {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "job-1"},
                      "spec": {"initContainers": [
                          {"name": "setup", "image": "alpine:3.19", "args": ["--init"],
                           "securityContext": {"allowPrivilegeEscalation": True, "readOnlyRootFilesystem": True,
                                               "runAsGroup": 10, "procMount": "Default",
                                               "capabilities": {"add": ["CHOWN"]}}}],
                          "containers": [{"name": "main", "image": "alpine:3.19"}]}},
    "responseObject": {"kind": "Pod", "metadata": {"name": "job-1"}},
}

INIT_ONLY_EXPECTED: dict[str, Any] = {
    **{k: v for k, v in POD_EXPECTED.items() if not k.startswith(("ka.req.", "ka.auth.", "ka.security.",
                                                                 "ka.cluster.", "ka.resp."))},
    "ka.auditid": "b1b2b3b4-c5c6-4d7d-8e8e-f9f0a1a2b3b4",
    "ka.req.binding.subject.has_name[anyone]": "true", "ka.req.configmap.name": "web",
    "ka.resp.name": "job-1", "ka.target.pod.name": "job-1",  # the response object's name
    "ka.req.pod.containers.name": ["main"], "ka.req.pod.containers.image": ["alpine:3.19"],
    "ka.req.pod.containers.image.repository": ["alpine"],
    "ka.req.container.image": "alpine:3.19", "ka.req.container.image.repository": "alpine",
    "ka.req.container.privileged": "false",
    "ka.req.pod.containers.eff_run_as_user": ["0"], "ka.req.pod.containers.eff_run_as_group": ["0"],
    "ka.req.pod.containers.eff_run_as_user[2]": None,
    "ka.req.pod.initContainers.name": ["setup"], "ka.req.pod.initContainers.image": ["alpine:3.19"],
    "ka.req.pod.initContainers.image.repository": ["alpine"],
    "ka.req.pod.initContainers.args": ["--init"],
    "ka.req.pod.initContainers.allow_privilege_escalation": ["true"],
    "ka.req.pod.initContainers.read_only_fs": ["true"],
    "ka.req.pod.initContainers.run_as_group": ["10"],
    "ka.req.pod.initContainers.eff_run_as_user": ["0"],
    "ka.req.pod.initContainers.eff_run_as_group": ["0"],
    "ka.req.pod.initContainers.proc_mount": ["Default"],
    "ka.req.pod.initContainers.add_capabilities": ['["CHOWN"]'],
}

CASES: list[Case] = [
    ("pod with init and three containers", POD, POD_EXPECTED),
    ("clusterrolebinding", CRB, CRB_EXPECTED),
    ("clusterrole with rules", ROLE, ROLE_EXPECTED),
    ("configmap update", CONFIGMAP, CONFIGMAP_EXPECTED),
    ("exec", EXEC, EXEC_EXPECTED),
    ("attach", ATTACH, ATTACH_EXPECTED),
    ("anonymous request", ANONYMOUS, ANONYMOUS_EXPECTED),
    ("nodeport service", SERVICE, SERVICE_EXPECTED),
    ("ephemeral debug container", EPHEMERAL, EPHEMERAL_EXPECTED),
    ("init container settings", INIT_ONLY, INIT_ONLY_EXPECTED),
]

#: For each switch of the plugin's init config (a key of ``corrections``, or ``hostPathFirstVolumeOnly``):
#: by case, the values that change when it alone is on.
SWITCHED: dict[str, dict[str, dict[str, Any]]] = {
    "sourceIPs": {  # the event's sourceIPs
        "pod with init and three containers": {"ka.sourceips": ["10.0.0.12", "192.168.1.7"],
                                               "ka.sourceips[1]": ["192.168.1.7"]},
        "clusterrolebinding": {"ka.sourceips": ["172.16.4.20"]},
        "clusterrole with rules": {"ka.sourceips": ["192.168.49.1"]},
        "configmap update": {"ka.sourceips": ["10.1.2.3"]},
        "exec": {"ka.sourceips": ["192.168.49.1"]},
        "attach": {"ka.sourceips": ["192.168.49.1"]},
        "anonymous request": {"ka.sourceips": ["203.0.113.50"]},
        "nodeport service": {"ka.sourceips": ["10.0.0.12"]},
        "ephemeral debug container": {"ka.sourceips": ["192.168.49.1"]},
        "init container settings": {"ka.sourceips": ["10.0.0.12", "192.168.1.7"], "ka.sourceips[1]": ["192.168.1.7"]},
    },
    "imageRepository": {  # the registry's port kept
        "pod with init and three containers": {
            "ka.req.pod.containers.image.repository": ["registry.example.com:5000/web/nginx", "falcosecurity/falco",
                                                       "fluent/fluent-bit"],
            "ka.req.container.image.repository": "registry.example.com:5000/web/nginx"},
    },
    "effectiveRunAs": {  # securityContext: the container's, else the pod's, else 0
        "pod with init and three containers": {
            "ka.req.pod.containers.eff_run_as_user": ["101", "1000", "1000"],
            "ka.req.pod.containers.eff_run_as_user[2]": ["1000"],
            "ka.req.pod.containers.eff_run_as_group": ["3000", "0", "3000"],
            "ka.req.pod.initContainers.eff_run_as_group": ["3000"]},
        "init container settings": {"ka.req.pod.initContainers.eff_run_as_group": ["10"]},
    },
    "addCapabilities": {  # the names, flattened
        "pod with init and three containers": {
            "ka.req.pod.containers.add_capabilities": ["NET_BIND_SERVICE", "SYS_ADMIN", "NET_ADMIN"],
            "ka.req.pod.containers.add_capabilities[1]": ["SYS_ADMIN", "NET_ADMIN"]},
        "ephemeral debug container": {"ka.req.pod.ephemeralContainers.add_capabilities": ["SYS_PTRACE"]},
        "init container settings": {"ka.req.pod.initContainers.add_capabilities": ["CHOWN"]},
    },
    "servicePorts": {  # one JSON object per port; an index picks one
        "nodeport service": {
            "ka.req.service.ports": ['{"name":"http","port":80,"targetPort":8080,"nodePort":30080,"protocol":"TCP"}',
                                     '{"name":"https","port":443,"protocol":"TCP"}'],
            "ka.req.service.ports[1]": ['{"name":"https","port":443,"protocol":"TCP"}']},
    },
    "hostPathFirstVolumeOnly": {  # upstream under libsinsp < 0.24: volume 0 only
        "pod with init and three containers": {"ka.req.volume.hostpath[/etc*]": "false",
                                               "ka.req.volume.hostpath[/etc/kubernetes]": "false"},
    },
}

#: The argument forms asked besides the plain names (required-argument fields only in these forms).
ARG_FORMS = sorted({k for _, _, expected in CASES for k in expected if "[" in k}
                   | {k for by_case in SWITCHED.values() for values in by_case.values() for k in values if "[" in k})
