#!/usr/bin/python3
"""Stand-in for a Kubernetes API server, for the system tests.

What it stands in for: a kube-apiserver (Kubernetes 1.26) backed by etcd, with
the apiextensions server inside it (CRDs: naming, establishing, instance cleanup
on CRD deletion) and the usual built-in admission (NamespaceLifecycle), but with
NO kube-controller-manager: nothing garbage-collects, no namespace controller
empties or removes a deleted namespace, no root CA ConfigMap or default
ServiceAccount appears. That is the situation described, point by point, in
../shared/docs/kube-api-behaviour.md (observed on a real 1.26 kube-apiserver with
the Cluster API v1.10 and k0smotron v1.10.0 CRDs), and this server answers the
same way on each of those points (status codes, Status bodies, what it strips,
prunes, defaults and rejects). A client talks to it over HTTPS with a normal
kubeconfig and has no way to tell it from a real one on the REST paths below.

Served:
  discovery   /api, /api/v1, /apis, /apis/GROUP, /apis/GROUP/VERSION (APIVersions,
              APIGroupList, APIGroup, APIResourceList with subresources), /version,
              /healthz, /livez, /readyz, / (path list)
  built-in    v1 namespaces (+/status, +/finalize), configmaps, secrets, nodes
              (+/status); coordination.k8s.io/v1 leases; apiextensions.k8s.io/v1
              customresourcedefinitions (+/status)
  CRDs        every served version of every installed CRD (one stored object,
              conversion None: same body, apiVersion rewritten), /status and
              /scale subresources when the version declares them; OpenAPI v3
              structural schema: unknown fields pruned (or 400 with
              fieldValidation=Strict, a Warning header by default), nulls dropped,
              defaults applied, types/required/enum/min/max/length/pattern/items
              checked (422)
  verbs       get, list (limit/continue paging on a consistent snapshot, label and
              field selectors, resourceVersion/resourceVersionMatch), watch
              (?watch=1: chunked event stream, from a resourceVersion or with the
              initial ADDED events), create (generateName, dryRun=All), update
              (resourceVersion and uid preconditions), patch (merge, JSON patch,
              strategic merge for built-ins as described below, server-side apply),
              delete (finalizers, deletionTimestamp, propagationPolicy, dryRun,
              preconditions), deletecollection
  workloads   v1 serviceaccounts, services (+/status), apps/v1 deployments
              (+/status), rbac.authorization.k8s.io/v1 clusterroles,
              clusterrolebindings, roles, rolebindings (what provider components
              carry): stored, nothing runs them; a Deployment becomes Available
              only when a test writes that condition to its /status
  admission   admissionregistration.k8s.io/v1 mutating and validating
              webhook configurations are enforced for creates and updates:
              a matching webhook whose Service has no ready backend (see
              Api.webhook_backend_error) fails the request with 500
              InternalError "failed calling webhook ..." (failurePolicy Fail),
              on dry-run creates too; a dry run reaching a webhook whose
              sideEffects is not None/NoneOnDryRun is 400. A webhook with a
              ready backend allows the request unchanged (no webhook code runs)
  auth        client certificates signed by the stand-in's CA, or a bearer token;
              anything else is 401. Every authenticated user may do everything.

NOT implemented (a real server has them; the tests here do not need them):
  - authorization (RBAC: its objects are stored, never enforced),
    impersonation, audit policy, conversion webhooks, CEL rules (x-kubernetes-validations), anyOf/oneOf/allOf
    schema checks, string formats;
  - protobuf and Table output (JSON and YAML only: an Accept header that allows
    neither gets 406), /openapi/v2 and /openapi/v3 and the legacy /api/v1/watch/
    paths (plain "404 page not found"), aggregated discovery (the classic
    discovery documents are always sent), HTTP/2;
  - built-in resources other than the ones above (pods, services, ... answer
    "404 page not found" as an unknown resource would);
  - etcd compaction (no 410 Expired: every resourceVersion stays readable),
    watch bookmarks;
  - strategic merge patch is a JSON merge patch plus the two list rules the CAPI
    move can touch (metadata.finalizers merged as a set, ownerReferences merged
    by uid, and $deleteFromPrimitiveList/finalizers); built-in types only;
  - server-side apply is a basic version: field sets per manager over maps,
    atomic lists, x-kubernetes-list-type set and map lists; conflicts when
    another manager owns a field the apply sets to a different value (409 unless
    force=true); fields the manager stopped applying are removed when nobody
    else owns them. managedFields carry no "." entries and no field-level
    versioning; the list-item ordering rules of structured-merge-diff are not
    reproduced.
  - persistence: objects live in memory only; a restarted stand-in is empty.

Usage:
  kube_standin.py --listen 127.0.0.1:0 --state-dir DIR --kubeconfig-out PATH
                  [--auth cert|token] [--crds DIR ...] [--crd-label KEY=VALUE ...]
                  [--name NAME] [--serve-delay SECONDS]
(or `python3 -m kube_standin ...` with this directory on PYTHONPATH, which
starts faster: the compiled module is cached). The kubeconfig is written
(atomically) only once the socket listens, so its existence means ready. DIR
receives ca.crt, client.crt/client.key (an admin certificate), token,
standin.log and requests.log (one JSON object per request: time, method, path,
query, status, user, userAgent, contentType, propagationPolicy, dryRun,
fieldManager, and for an error its Status reason and message). SIGTERM or
SIGINT stops it. --serve-delay makes a CRD created over the API answer "404
page not found" for that long after it is Established (a real server does so
for a moment); CRDs loaded with --crds are served at once.
"""
import argparse
import base64
import binascii
import copy
import datetime
import hashlib
import http.server
import json
import os
import random
import re
import signal
import socketserver
import ssl
import subprocess
import sys
import threading
import time
import traceback
import urllib.parse
import uuid

import yaml

try:
    _YAML_LOADER = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _YAML_LOADER = yaml.SafeLoader

VERSION_INFO = {
    "major": "1",
    "minor": "26",
    "gitVersion": "v1.26.15",
    "gitCommit": "1649f592f1909b97aa3c2a0a8f968a3fd05a7b8b",
    "gitTreeState": "clean",
    "buildDate": "2024-03-14T00:54:27Z",
    "goVersion": "go1.21.8",
    "compiler": "gc",
    "platform": "linux/amd64",
}

CLUSTERCTL_LABEL = "clusterctl.cluster.x-k8s.io"
NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"
PROTECTED_NAMESPACES = ("default", "kube-system", "kube-public")
CRD_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"
CONFLICT_MSG = "the object has been modified; please apply your changes to the latest version and try again"


def now_str():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def clone(o):
    return copy.deepcopy(o)


def canon(v):
    return json.dumps(v, sort_keys=True, separators=(",", ":"))


def join_path(path, key):
    return key if not path else f"{path}.{key}"


def go_value(v):
    """Roughly Go's %#v of a decoded JSON value, as field errors print it."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[]interface {}{" + ", ".join(go_value(x) for x in v) + "}"
    if isinstance(v, dict):
        return "map[string]interface {}{" + ", ".join(f"{json.dumps(k)}:{go_value(x)}" for k, x in v.items()) + "}"
    return str(v)


class Raw:
    """A value already formatted for a field error (e.g. 0x0)."""

    def __init__(self, text):
        self.text = text


# ----------------------------------------------------------------------------
# Errors: Status bodies as kube-apiserver sends them
# ----------------------------------------------------------------------------

class ApiError(Exception):
    def __init__(self, code, reason="", message="", details=None, plain=None, headers=None):
        super().__init__(message or plain)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.plain = plain
        self.headers = headers or []

    def status(self):
        s = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": self.message}
        if self.reason:
            s["reason"] = self.reason
        if self.details is not None:
            s["details"] = self.details
        s["code"] = self.code
        return s


def mk_details(name=None, group=None, kind=None, causes=None, uid=None, retry=None):
    d = {}
    if name:
        d["name"] = name
    if group:
        d["group"] = group
    if kind:
        d["kind"] = kind
    if uid:
        d["uid"] = uid
    if causes:
        d["causes"] = causes
    if retry:
        d["retryAfterSeconds"] = retry
    return d


def page_not_found():
    return ApiError(404, plain="404 page not found\n")


def err_not_found(rt, name):
    return ApiError(404, "NotFound", f'{rt.qualified} "{name}" not found', mk_details(name, rt.group, rt.plural))


def err_ns_not_found(ns):
    return ApiError(404, "NotFound", f'namespaces "{ns}" not found', mk_details(ns, None, "namespaces"))


def err_exists(rt, name):
    return ApiError(409, "AlreadyExists", f'{rt.qualified} "{name}" already exists',
                    mk_details(name, rt.group, rt.plural))


def err_conflict(rt, name, msg=CONFLICT_MSG):
    return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {rt.qualified} "{name}": {msg}',
                    mk_details(name, rt.group, rt.plural))


def err_bad_request(msg):
    return ApiError(400, "BadRequest", msg)


def err_internal(msg):
    return ApiError(500, "InternalError", f"Internal error occurred: {msg}", {"causes": [{"message": msg}]})


def err_method_not_allowed():
    return ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {})


def err_unsupported_media(types):
    return ApiError(415, "UnsupportedMediaType",
                    "the body of the request was in an unknown format - accepted media types include: "
                    + ", ".join(types), {})


def err_not_acceptable():
    return ApiError(406, "NotAcceptable",
                    "only the following media types are accepted: application/json, application/yaml, "
                    "application/vnd.kubernetes.protobuf", {})


def err_unauthorized():
    return ApiError(401, "Unauthorized", "Unauthorized")


def err_unprocessable(msg):
    """What a JSON patch that does not apply gets (a generic 422 response)."""
    return ApiError(422, "Invalid", "the server rejected our request due to an error in our request",
                    {"causes": [{"reason": "UnexpectedServerResponse", "message": msg}]})


class FieldError:
    """One entry of a 422 Invalid: metav1.StatusCause plus the message text."""

    REASONS = {
        "invalid": "FieldValueInvalid", "required": "FieldValueRequired", "forbidden": "FieldValueForbidden",
        "notsupported": "FieldValueNotSupported", "duplicate": "FieldValueDuplicate", "toolong": "FieldValueTooLong",
        "toomany": "FieldValueTooMany", "notfound": "FieldValueNotFound",
    }

    def __init__(self, type_, field, value=None, detail="", supported=None):
        self.type = type_
        self.field = field
        self.value = value
        self.detail = detail
        self.supported = supported

    def _value(self):
        return self.value.text if isinstance(self.value, Raw) else go_value(self.value)

    def body(self):
        t = self.type
        if t == "invalid":
            s = f"Invalid value: {self._value()}"
            return s + (f": {self.detail}" if self.detail else "")
        if t == "required":
            return "Required value" + (f": {self.detail}" if self.detail else "")
        if t == "forbidden":
            return "Forbidden" + (f": {self.detail}" if self.detail else "")
        if t == "notsupported":
            s = f"Unsupported value: {self._value()}"
            if self.supported:
                s += ": supported values: " + ", ".join(json.dumps(x) for x in self.supported)
            return s
        if t == "duplicate":
            return f"Duplicate value: {self._value()}"
        if t == "toolong":
            return f"Too long: {self.detail}"
        if t == "toomany":
            return f"Too many: {self._value()}: {self.detail}"
        if t == "notfound":
            return f"Not found: {self._value()}"
        return self.detail

    def text(self):
        return f"{self.field}: {self.body()}" if self.field else self.body()

    def cause(self):
        c = {"reason": self.REASONS[self.type], "message": self.body()}
        if self.field:
            c["field"] = self.field
        return c


def err_invalid(rt, name, errs):
    texts = [e.text() for e in errs]
    joined = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    return ApiError(422, "Invalid", f'{rt.group_kind} "{name}" is invalid: {joined}',
                    mk_details(name, rt.group, rt.kind, [e.cause() for e in errs]))


# ----------------------------------------------------------------------------
# Name and label validation (apimachinery rules)
# ----------------------------------------------------------------------------

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")

MSG_SUBDOMAIN = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
                 "must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
                 "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
MSG_LABEL = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
             "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
             "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
MSG_QUALIFIED = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
                 "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
                 "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
MSG_LABEL_VALUE = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and "
                   "must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', "
                   "regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")
MSG_CONFIG_KEY = ("a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or "
                  "'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')")


def check_length_and_pattern(value, limit, pattern, message):
    """The apiserver's two checks of a name or value: its length, its form."""
    out = []
    if len(value) > limit:
        out.append("must be no more than %d characters" % limit)
    if not pattern.match(value):
        out.append(message)
    return out


def check_dns_subdomain(value):
    return check_length_and_pattern(value, 253, DNS1123_SUBDOMAIN, MSG_SUBDOMAIN)


def check_dns_label(value):
    return check_length_and_pattern(value, 63, DNS1123_LABEL, MSG_LABEL)


def check_qualified_name(value):
    """Problems with a label key / annotation key / finalizer (prefix/name)."""
    out = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            out.append("prefix part must be non-empty")
        else:
            out += ["prefix part " + m for m in check_dns_subdomain(prefix)]
    else:
        return ["a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
                "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
                "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix "
                "and '/' (e.g. 'example.com/MyName')"]
    if not name:
        out.append("name part must be non-empty")
    elif len(name) > 63:
        out.append("name part must be no more than 63 characters")
    elif not QUALIFIED_NAME.match(name):
        out.append(MSG_QUALIFIED)
    return out


def check_label_value(value):
    return check_length_and_pattern(value, 63, LABEL_VALUE, MSG_LABEL_VALUE)


# ----------------------------------------------------------------------------
# Structural schemas: pruning, null dropping, defaulting, validation
# ----------------------------------------------------------------------------

def schema_child(s, key):
    if not s:
        return None
    props = s.get("properties")
    if props and key in props:
        return props[key]
    ap = s.get("additionalProperties")
    if isinstance(ap, dict):
        return ap
    return None


def list_type(s):
    if not s:
        return "atomic", []
    lt = s.get("x-kubernetes-list-type", "atomic")
    return lt, s.get("x-kubernetes-list-map-keys") or []


STR = {"type": "string"}
MAPSTR = {"type": "object", "additionalProperties": {"type": "string"}}
OWNER_REF = {"type": "object", "properties": {
    "apiVersion": STR, "kind": STR, "name": STR, "uid": STR,
    "controller": {"type": "boolean"}, "blockOwnerDeletion": {"type": "boolean"}}}
META = {"type": "object", "properties": {
    "name": STR, "generateName": STR, "namespace": STR, "selfLink": STR, "uid": STR, "resourceVersion": STR,
    "generation": {"type": "integer"},
    "creationTimestamp": {"type": "string", "nullable": True},
    "deletionTimestamp": {"type": "string", "nullable": True},
    "deletionGracePeriodSeconds": {"type": "integer"},
    "labels": MAPSTR, "annotations": MAPSTR,
    "ownerReferences": {"type": "array", "items": OWNER_REF, "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["uid"]},
    "finalizers": {"type": "array", "items": STR, "x-kubernetes-list-type": "set"},
    "managedFields": {"type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
}}
TYPEMETA = {"apiVersion": STR, "kind": STR, "metadata": META}
PRESERVE_OBJ = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


def root_schema(props):
    p = dict(TYPEMETA)
    p.update(props)
    return {"type": "object", "properties": p}


BUILTIN_SCHEMAS = {
    "configmaps": root_schema({"data": MAPSTR, "binaryData": MAPSTR, "immutable": {"type": "boolean"}}),
    "secrets": root_schema({"data": MAPSTR, "stringData": MAPSTR, "type": STR, "immutable": {"type": "boolean"}}),
    "namespaces": root_schema({
        "spec": {"type": "object", "properties": {"finalizers": {"type": "array", "items": STR}}},
        "status": {"type": "object", "properties": {
            "phase": STR, "conditions": {"type": "array", "items": PRESERVE_OBJ}}}}),
    "nodes": root_schema({"spec": PRESERVE_OBJ, "status": PRESERVE_OBJ}),
    "leases": root_schema({"spec": {"type": "object", "properties": {
        "holderIdentity": STR, "leaseDurationSeconds": {"type": "integer"}, "acquireTime": STR,
        "renewTime": STR, "leaseTransitions": {"type": "integer"}}}}),
    # Workload and admission kinds the Cluster API provider components
    # carry (images/capi): accepted and stored; no controller acts on them.
    "serviceaccounts": root_schema({"secrets": {"type": "array", "items": PRESERVE_OBJ},
                                    "imagePullSecrets": {"type": "array", "items": PRESERVE_OBJ},
                                    "automountServiceAccountToken": {"type": "boolean"}}),
    "services": root_schema({"spec": PRESERVE_OBJ, "status": PRESERVE_OBJ}),
    "deployments": root_schema({"spec": PRESERVE_OBJ, "status": PRESERVE_OBJ}),
    "clusterroles": root_schema({"rules": {"type": "array", "items": PRESERVE_OBJ},
                                 "aggregationRule": PRESERVE_OBJ}),
    "roles": root_schema({"rules": {"type": "array", "items": PRESERVE_OBJ}}),
    "clusterrolebindings": root_schema({"roleRef": PRESERVE_OBJ, "subjects": {"type": "array", "items": PRESERVE_OBJ}}),
    "rolebindings": root_schema({"roleRef": PRESERVE_OBJ, "subjects": {"type": "array", "items": PRESERVE_OBJ}}),
    "validatingwebhookconfigurations": root_schema({"webhooks": {"type": "array", "items": PRESERVE_OBJ}}),
    "mutatingwebhookconfigurations": root_schema({"webhooks": {"type": "array", "items": PRESERVE_OBJ}}),
    "customresourcedefinitions": root_schema({
        "spec": {"type": "object", "properties": {
            "group": STR, "names": PRESERVE_OBJ, "scope": STR, "preserveUnknownFields": {"type": "boolean"},
            "conversion": PRESERVE_OBJ, "versions": {"type": "array", "items": PRESERVE_OBJ}}},
        "status": PRESERVE_OBJ}),
}


def effective_cr_schema(openapi):
    """A CRD version's schema as the server applies it: ObjectMeta for metadata."""
    s = dict(openapi or {"type": "object", "x-kubernetes-preserve-unknown-fields": True})
    props = dict(s.get("properties") or {})
    props.update(TYPEMETA)
    s["properties"] = props
    return s


def prune(v, s, path, unknown):
    """Drops fields the schema does not know (recording their paths) and nulls
    in fields that are not nullable; keeps everything under
    x-kubernetes-preserve-unknown-fields (and where no schema applies)."""
    if s is None:
        return v
    if isinstance(v, dict):
        props = s.get("properties") or {}
        ap = s.get("additionalProperties")
        preserve = s.get("x-kubernetes-preserve-unknown-fields")
        embedded = s.get("x-kubernetes-embedded-resource")
        out = {}
        for k, val in v.items():
            if k in props:
                cs = props[k]
            elif embedded and k in TYPEMETA:
                cs = TYPEMETA[k]
            elif isinstance(ap, dict):
                cs = ap
            elif ap is True or preserve:
                out[k] = val
                continue
            else:
                unknown.append(join_path(path, k))
                continue
            if val is None and not cs.get("nullable"):
                continue
            out[k] = prune(val, cs, join_path(path, k), unknown)
        return out
    if isinstance(v, list):
        items = s.get("items")
        if not isinstance(items, dict):
            return v
        return [prune(x, items, f"{path}[{i}]", unknown) for i, x in enumerate(v)]
    return v


def apply_defaults(v, s):
    if not s:
        return
    if isinstance(v, dict):
        for k, cs in (s.get("properties") or {}).items():
            if k not in v and isinstance(cs, dict) and "default" in cs:
                v[k] = clone(cs["default"])
        for k, val in v.items():
            if k == "metadata" and s.get("properties", {}).get("metadata") is META:
                continue
            cs = schema_child(s, k)
            if cs:
                apply_defaults(val, cs)
    elif isinstance(v, list):
        items = s.get("items")
        if isinstance(items, dict):
            for x in v:
                apply_defaults(x, items)


def json_type(v):
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return "null"


def type_ok(v, t):
    jt = json_type(v)
    if t == "number":
        return jt in ("integer", "number")
    return jt == t


def validate_schema(v, s, path, errs, skip_meta=True):
    """OpenAPI v3 value validation as the apiextensions server reports it."""
    if not s:
        return
    if v is None:
        if s.get("nullable"):
            return
        t = s.get("type")
        if t:
            errs.append(FieldError("invalid", path, "null", f'{path} in body must be of type {t}: "null"'))
        return
    if s.get("x-kubernetes-int-or-string"):
        if json_type(v) not in ("integer", "string"):
            errs.append(FieldError("invalid", path, json_type(v),
                                   f'{path} in body must be of type integer,string: "{json_type(v)}"'))
            return
    else:
        t = s.get("type")
        if t and not type_ok(v, t):
            jt = json_type(v)
            errs.append(FieldError("invalid", path, jt, f'{path} in body must be of type {t}: "{jt}"'))
            return
    if "enum" in s and v not in s["enum"]:
        errs.append(FieldError("notsupported", path, v, supported=s["enum"]))
    if isinstance(v, str):
        if "maxLength" in s and len(v) > s["maxLength"]:
            errs.append(FieldError("toolong", path, v, f"may not be longer than {s['maxLength']}"))
        if "minLength" in s and len(v) < s["minLength"]:
            errs.append(FieldError("invalid", path, v,
                                   f"{path} in body should be at least {s['minLength']} chars long"))
        if "pattern" in s:
            try:
                if not re.search(s["pattern"], v):
                    errs.append(FieldError("invalid", path, v, f"{path} in body should match '{s['pattern']}'"))
            except re.error:
                pass
    elif json_type(v) in ("integer", "number"):
        if "minimum" in s:
            if s.get("exclusiveMinimum") and v <= s["minimum"]:
                errs.append(FieldError("invalid", path, v, f"{path} in body should be greater than {s['minimum']}"))
            elif v < s["minimum"]:
                errs.append(FieldError("invalid", path, v,
                                       f"{path} in body should be greater than or equal to {s['minimum']}"))
        if "maximum" in s:
            if s.get("exclusiveMaximum") and v >= s["maximum"]:
                errs.append(FieldError("invalid", path, v, f"{path} in body should be less than {s['maximum']}"))
            elif v > s["maximum"]:
                errs.append(FieldError("invalid", path, v,
                                       f"{path} in body should be less than or equal to {s['maximum']}"))
    elif isinstance(v, list):
        if "maxItems" in s and len(v) > s["maxItems"]:
            errs.append(FieldError("toomany", path, Raw(str(len(v))), f"must have at most {s['maxItems']} items"))
        if "minItems" in s and len(v) < s["minItems"]:
            errs.append(FieldError("invalid", path, Raw(str(len(v))),
                                   f"{path} in body should have at least {s['minItems']} items"))
        lt, keys = list_type(s)
        seen = set()
        for i, x in enumerate(v):
            if lt == "set" or s.get("uniqueItems"):
                k = canon(x)
                if k in seen:
                    errs.append(FieldError("duplicate", f"{path}[{i}]", x))
                seen.add(k)
            elif lt == "map" and isinstance(x, dict):
                k = canon({kk: x.get(kk) for kk in keys})
                if k in seen:
                    errs.append(FieldError("duplicate", f"{path}[{i}]", Raw(
                        "map[string]interface {}{" + ", ".join(f'"{kk}":{go_value(x.get(kk))}' for kk in keys) + "}")))
                seen.add(k)
            validate_schema(x, s.get("items") if isinstance(s.get("items"), dict) else None, f"{path}[{i}]", errs)
    elif isinstance(v, dict):
        for r in s.get("required") or []:
            if r not in v:
                errs.append(FieldError("required", join_path(path, r)))
        if "maxProperties" in s and len(v) > s["maxProperties"]:
            errs.append(FieldError("toomany", path, Raw(str(len(v))), f"must have at most {s['maxProperties']} items"))
        if "minProperties" in s and len(v) < s["minProperties"]:
            errs.append(FieldError("invalid", path, Raw(str(len(v))),
                                   f"{path} in body should have at least {s['minProperties']} properties"))
        for k, val in v.items():
            if not path and skip_meta and k in TYPEMETA:
                continue
            cs = schema_child(s, k)
            if cs is None and s.get("x-kubernetes-embedded-resource") and k in ("apiVersion", "kind"):
                cs = STR
            validate_schema(val, cs, join_path(path, k), errs)


GO_TYPES = {"string": "string", "integer": "int64", "number": "float64", "boolean": "bool", "array": "[]string",
            "object": "map[string]string"}
JSON_NAMES = {"string": "string", "integer": "number", "number": "number", "boolean": "bool", "array": "array",
              "object": "object", "null": "null"}


def decode_type_error(v, s, path, kind):
    """For built-in types a wrongly typed field fails JSON decoding (400), before
    any validation; returns the Go decoder's message or None."""
    if s is None or v is None:
        return None
    t = s.get("type")
    if t and not type_ok(v, t):
        field = f"{kind}.{path}" if path else kind
        return (f"json: cannot unmarshal {JSON_NAMES[json_type(v)]} into Go struct field {field} of type "
                f"{GO_TYPES.get(t, t)}")
    if isinstance(v, dict):
        props = s.get("properties") or {}
        for k, val in v.items():
            # a map value reports the map's field, as Go's decoder does
            e = decode_type_error(val, schema_child(s, k), join_path(path, k) if k in props else path, kind)
            if e:
                return e
    elif isinstance(v, list) and isinstance(s.get("items"), dict):
        for x in v:
            e = decode_type_error(x, s["items"], path, kind)
            if e:
                return e
    return None


# ----------------------------------------------------------------------------
# Selectors
# ----------------------------------------------------------------------------

class SelectorError(Exception):
    pass


_SEL_TOKEN = re.compile(r"\s*(!=|==|=|>|<|!|\(|\)|,|[A-Za-z0-9._/\-]+)")


def parse_label_selector(text):
    """[(key, op, values)]; op in exists, !, =, !=, in, notin, gt, lt."""
    toks = []
    pos = 0
    text = text or ""
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _SEL_TOKEN.match(text, pos)
        if not m:
            raise SelectorError(f"unable to parse requirement: found '{text[pos:].strip()[:1]}', "
                                "expected: identifier")
        toks.append(m.group(1))
        pos = m.end()
    reqs = []
    i = 0

    def peek():
        return toks[i] if i < len(toks) else None

    while i < len(toks):
        neg = False
        if toks[i] == "!":
            neg = True
            i += 1
        key = peek()
        if key is None or key in ("!=", "==", "=", ">", "<", "!", "(", ")", ","):
            raise SelectorError(f"unable to parse requirement: found '{key or ''}', expected: identifier")
        i += 1
        for p in check_qualified_name(key):
            raise SelectorError(f'unable to parse requirement: key: Invalid value: "{key}": {p}')
        if neg:
            reqs.append((key, "!", []))
        else:
            op = peek()
            if op is None or op == ",":
                reqs.append((key, "exists", []))
            elif op in ("=", "==", "!=", ">", "<"):
                i += 1
                val = peek()
                if val is None or val == ",":
                    val = ""
                elif val in ("!=", "==", "=", ">", "<", "!", "(", ")"):
                    raise SelectorError(f"unable to parse requirement: found '{val}', expected: identifier")
                else:
                    i += 1
                if op in (">", "<"):
                    if not re.fullmatch(r"-?\d+", val):
                        raise SelectorError("unable to parse requirement: for 'Gt', 'Lt' operators, the value "
                                            "must be an integer")
                    reqs.append((key, "gt" if op == ">" else "lt", [int(val)]))
                else:
                    for p in check_label_value(val):
                        raise SelectorError(f'unable to parse requirement: values[0][{key}]: Invalid value: '
                                            f'"{val}": {p}')
                    reqs.append((key, "!=" if op == "!=" else "=", [val]))
            elif op in ("in", "notin"):
                i += 1
                if peek() != "(":
                    raise SelectorError(f"unable to parse requirement: found '{peek() or ''}', expected: '('")
                i += 1
                vals = []
                while True:
                    t = peek()
                    if t is None:
                        raise SelectorError("unable to parse requirement: found '', expected: ')'")
                    if t == ")":
                        i += 1
                        break
                    if t == ",":
                        i += 1
                        continue
                    vals.append(t)
                    i += 1
                if not vals:
                    raise SelectorError("unable to parse requirement: for 'in', 'notin' operators, values set "
                                        "can't be empty")
                reqs.append((key, op, vals))
            else:
                raise SelectorError(f"unable to parse requirement: found '{op}', expected: "
                                    "'=', '!=', '==', 'in', notin'")
        if i < len(toks):
            if toks[i] != ",":
                raise SelectorError(f"unable to parse requirement: found '{toks[i]}', expected: ',' or 'end of "
                                    "string'")
            i += 1
    return reqs


def labels_match(reqs, labels):
    labels = labels or {}
    for key, op, vals in reqs:
        has = key in labels
        v = labels.get(key)
        if op == "exists" and not has:
            return False
        if op == "!" and has:
            return False
        if op == "=" and (not has or v != vals[0]):
            return False
        if op == "!=" and has and v == vals[0]:
            return False
        if op == "in" and (not has or v not in vals):
            return False
        if op == "notin" and has and v in vals:
            return False
        if op in ("gt", "lt"):
            if not has or not re.fullmatch(r"-?\d+", v or ""):
                return False
            if op == "gt" and not int(v) > vals[0]:
                return False
            if op == "lt" and not int(v) < vals[0]:
                return False
    return True


def parse_field_selector(text, rt):
    reqs = []
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        m = re.fullmatch(r"([^=!]+?)\s*(==|=|!=)\s*(.*)", part)
        if not m:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{part}'")
        key, op, val = m.group(1).strip(), m.group(2), m.group(3).strip()
        if key not in rt.field_labels:
            if rt.builtin:
                raise SelectorError(f"field label not supported: {key}")
            raise SelectorError(f'"{key}" is not a known field selector: only "metadata.name", "metadata.namespace"')
        reqs.append((key, "!=" if op == "!=" else "=", val))
    return reqs


def fields_match(reqs, rt, obj):
    for key, op, val in reqs:
        have = rt.field_labels[key](obj)
        if (op == "=") != (have == val):
            return False
    return True


# ----------------------------------------------------------------------------
# Patches: RFC 7386 merge patch, RFC 6902 JSON patch, strategic merge (subset)
# ----------------------------------------------------------------------------

def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return clone(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


class JsonPatchError(Exception):
    pass


def _unescape(tok):
    return tok.replace("~1", "/").replace("~0", "~")


def _split_pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise JsonPatchError(f"add operation does not apply: doc is missing path: \"{path}\": missing value")
    return [_unescape(t) for t in path[1:].split("/")]


def _resolve_parent(doc, toks, op, path):
    cur = doc
    for t in toks[:-1]:
        if isinstance(cur, dict) and t in cur:
            cur = cur[t]
        elif isinstance(cur, list) and re.fullmatch(r"\d+", t) and int(t) < len(cur):
            cur = cur[int(t)]
        else:
            raise JsonPatchError(f'{op} operation does not apply: doc is missing path: "{path}": missing value')
    return cur


def _get(doc, path, op):
    toks = _split_pointer(path)
    if not toks:
        return doc
    parent = _resolve_parent(doc, toks, op, path)
    last = toks[-1]
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list) and re.fullmatch(r"\d+", last) and int(last) < len(parent):
        return parent[int(last)]
    raise JsonPatchError(f"{op} operation does not apply: doc is missing key: {path}: missing value")


def _remove(doc, path, op="remove"):
    toks = _split_pointer(path)
    parent = _resolve_parent(doc, toks, op, path)
    last = toks[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise JsonPatchError(f"Unable to remove nonexistent key: {last}: missing value")
        return parent.pop(last)
    if isinstance(parent, list):
        if not re.fullmatch(r"\d+", last) or int(last) >= len(parent):
            raise JsonPatchError(f"Unable to access invalid index: {last}: invalid index referenced")
        return parent.pop(int(last))
    raise JsonPatchError(f"{op} operation does not apply: doc is missing path: \"{path}\": missing value")


def _add(doc, path, value, op="add"):
    toks = _split_pointer(path)
    if not toks:
        return value
    parent = _resolve_parent(doc, toks, op, path)
    last = toks[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-":
            parent.append(value)
        elif re.fullmatch(r"\d+", last) and int(last) <= len(parent):
            parent.insert(int(last), value)
        else:
            raise JsonPatchError(f"Unable to access invalid index: {last}: invalid index referenced")
    else:
        raise JsonPatchError(f'{op} operation does not apply: doc is missing path: "{path}": missing value')
    return doc


def json_patch(doc, ops):
    doc = clone(doc)
    for o in ops:
        op = o["op"]
        path = o["path"]
        if op == "add":
            doc = _add(doc, path, clone(o["value"]))
        elif op == "remove":
            _remove(doc, path)
        elif op == "replace":
            _get(doc, path, "replace")
            toks = _split_pointer(path)
            if not toks:
                doc = clone(o["value"])
            else:
                parent = _resolve_parent(doc, toks, "replace", path)
                if isinstance(parent, list):
                    parent[int(toks[-1])] = clone(o["value"])
                else:
                    parent[toks[-1]] = clone(o["value"])
        elif op == "move":
            v = _remove(doc, o["from"], "move")
            doc = _add(doc, path, v, "move")
        elif op == "copy":
            v = _get(doc, o["from"], "copy")
            doc = _add(doc, path, clone(v), "copy")
        elif op == "test":
            try:
                have = _get(doc, path, "test")
            except JsonPatchError:
                have = None
                if o.get("value") is not None:
                    raise JsonPatchError(f"testing value {path} failed: test failed")
            if have != o.get("value") or type(have) is bool and type(o.get("value")) is not bool:
                raise JsonPatchError(f"testing value {path} failed: test failed")
    return doc


def check_json_patch(ops):
    if not isinstance(ops, list):
        raise ValueError("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    for o in ops:
        if not isinstance(o, dict) or "op" not in o:
            raise ValueError("Unable to parse patch: missing op")
        if o["op"] not in ("add", "remove", "replace", "move", "copy", "test"):
            raise ValueError(f"Unexpected kind: {o['op']}")
        if not isinstance(o.get("path"), str):
            raise ValueError(f"{o['op']} operation missing path")
        if o["op"] in ("add", "replace", "test") and "value" not in o:
            raise ValueError(f"{o['op']} operation missing value")
        if o["op"] in ("move", "copy") and not isinstance(o.get("from"), str):
            raise ValueError(f"{o['op']} operation missing from location")


def strategic_merge_patch(target, patch):
    """Merge patch plus the list rules of ObjectMeta (finalizers as a set,
    ownerReferences merged by uid) and $deleteFromPrimitiveList/finalizers."""
    patch = clone(patch)
    meta_p = patch.get("metadata") if isinstance(patch.get("metadata"), dict) else None
    deletes = []
    fin = owners = None
    if meta_p is not None:
        deletes = meta_p.pop("$deleteFromPrimitiveList/finalizers", []) or []
        fin = meta_p.pop("finalizers", None) if isinstance(meta_p.get("finalizers"), list) else None
        owners = meta_p.pop("ownerReferences", None) if isinstance(meta_p.get("ownerReferences"), list) else None
    for k in list(patch):
        if k.startswith("$"):
            patch.pop(k)
    out = merge_patch(target, patch)
    meta = out.setdefault("metadata", {})
    if fin is not None:
        cur = list(meta.get("finalizers") or [])
        for f in fin:
            if f not in cur:
                cur.append(f)
        meta["finalizers"] = cur
    if deletes:
        meta["finalizers"] = [f for f in meta.get("finalizers") or [] if f not in deletes]
    if owners is not None:
        cur = [clone(o) for o in meta.get("ownerReferences") or []]
        for o in owners:
            if o.get("$patch") == "delete":
                cur = [c for c in cur if c.get("uid") != o.get("uid")]
                continue
            for i, c in enumerate(cur):
                if c.get("uid") == o.get("uid"):
                    cur[i] = merge_patch(c, o)
                    break
            else:
                cur.append(o)
        meta["ownerReferences"] = cur
    return out


# ----------------------------------------------------------------------------
# Field ownership (managedFields) for updates and server-side apply
# ----------------------------------------------------------------------------

IGNORED_META = {"name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
                "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink", "managedFields"}


def _paths(v, s, prefix, out):
    if isinstance(v, dict) and v:
        for k, val in v.items():
            _paths(val, schema_child(s, k), prefix + ("f:" + k,), out)
        return
    if isinstance(v, list) and v:
        lt, keys = list_type(s)
        items = s.get("items") if s else None
        if lt == "set":
            for x in v:
                out.add(prefix + ("v:" + canon(x),))
            return
        if lt == "map" and keys and all(isinstance(x, dict) for x in v):
            for x in v:
                p = prefix + ("k:" + canon({k: x.get(k) for k in keys if k in x}),)
                if x:
                    _paths(x, items, p, out)
                else:
                    out.add(p)
            return
    out.add(prefix)


def in_part(k, part):
    """Whether top-level field k belongs to part: "main" (all but status),
    "status" (status only) or "all"; apiVersion and kind to none."""
    if k in ("apiVersion", "kind"):
        return False
    if part == "main":
        return k != "status"
    if part == "status":
        return k == "status"
    return True


def field_set(obj, schema, part):
    """The field paths of an object that an owner can hold. part: "main" leaves
    status out, "status" keeps only status, "all" keeps both."""
    out = set()
    for k, v in obj.items():
        if not in_part(k, part):
            continue
        cs = schema_child(schema, k)
        if k == "metadata" and isinstance(v, dict):
            for mk, mv in v.items():
                if mk in IGNORED_META:
                    continue
                _paths(mv, schema_child(META, mk), ("f:metadata", "f:" + mk), out)
            continue
        _paths(v, cs, ("f:" + k,), out)
    return out


def changed_paths(old, new, s, prefix, changed, removed):
    if old == new and type(old) is type(new):
        return
    if isinstance(old, dict) and isinstance(new, dict) and old and new:
        for k, nv in new.items():
            cs = schema_child(s, k)
            p = prefix + ("f:" + k,)
            if k not in old:
                _paths(nv, cs, p, changed)
            else:
                changed_paths(old[k], nv, cs, p, changed, removed)
        for k, ov in old.items():
            if k not in new:
                _paths(ov, schema_child(s, k), prefix + ("f:" + k,), removed)
        return
    lt, keys = list_type(s)
    if isinstance(old, list) and isinstance(new, list) and old and new and lt in ("set", "map"):
        a, b = set(), set()
        _paths(old, s, prefix, a)
        _paths(new, s, prefix, b)
        for p in b:
            if p not in a or value_at_path(new, p[len(prefix):]) != value_at_path(old, p[len(prefix):]):
                changed.add(p)
        removed |= a - b
        return
    a, b = set(), set()
    _paths(old, s, prefix, a)
    _paths(new, s, prefix, b)
    changed |= b
    removed |= a - b


def object_changes(old, new, schema, part):
    """(changed, removed) field paths between two versions of an object."""
    changed, removed = set(), set()
    keys = set(old) | set(new)
    for k in keys:
        if not in_part(k, part):
            continue
        ov, nv = old.get(k, _MISSING), new.get(k, _MISSING)
        if k == "metadata":
            om = ov if isinstance(ov, dict) else {}
            nm = nv if isinstance(nv, dict) else {}
            for mk in set(om) | set(nm):
                if mk in IGNORED_META:
                    continue
                a, b = om.get(mk, _MISSING), nm.get(mk, _MISSING)
                p = ("f:metadata", "f:" + mk)
                ms = schema_child(META, mk)
                if a is _MISSING:
                    _paths(b, ms, p, changed)
                elif b is _MISSING:
                    _paths(a, ms, p, removed)
                else:
                    changed_paths(a, b, ms, p, changed, removed)
            continue
        cs = schema_child(schema, k)
        p = ("f:" + k,)
        if ov is _MISSING:
            _paths(nv, cs, p, changed)
        elif nv is _MISSING:
            _paths(ov, cs, p, removed)
        else:
            changed_paths(ov, nv, cs, p, changed, removed)
    return changed, removed


class _Missing:
    def __repr__(self):
        return "<missing>"


_MISSING = _Missing()


def value_at_path(obj, path):
    cur = obj
    for el in path:
        t, rest = el[0], el[2:]
        if t == "f":
            if isinstance(cur, dict) and rest in cur:
                cur = cur[rest]
            else:
                return _MISSING
        elif t == "k":
            keys = json.loads(rest)
            if not isinstance(cur, list):
                return _MISSING
            for x in cur:
                if isinstance(x, dict) and all(x.get(k) == v for k, v in keys.items()):
                    cur = x
                    break
            else:
                return _MISSING
        elif t == "v":
            val = json.loads(rest)
            if isinstance(cur, list) and val in cur:
                cur = val
            else:
                return _MISSING
        elif t == "i":
            if isinstance(cur, list) and int(rest) < len(cur):
                cur = cur[int(rest)]
            else:
                return _MISSING
        else:
            return _MISSING
    return cur


def remove_at_path(obj, path):
    """Removes one field path from obj (in place); True if it was there."""
    if not path:
        return False
    parent = value_at_path(obj, path[:-1])
    el = path[-1]
    t, rest = el[0], el[2:]
    if t == "f" and isinstance(parent, dict) and rest in parent:
        del parent[rest]
        return True
    if t == "v" and isinstance(parent, list):
        val = json.loads(rest)
        if val in parent:
            parent.remove(val)
            return True
    if t == "k" and isinstance(parent, list):
        keys = json.loads(rest)
        for i, x in enumerate(parent):
            if isinstance(x, dict) and all(x.get(k) == v for k, v in keys.items()):
                del parent[i]
                return True
    return False


def to_fields_v1(paths):
    tree = {}
    for p in sorted(paths):
        node = tree
        for el in p:
            node = node.setdefault(el, {})
    for p in paths:
        node = tree
        for el in p:
            node = node[el]
        if node:
            node["."] = {}
    return tree


def from_fields_v1(tree, prefix=()):
    out = set()
    if not isinstance(tree, dict):
        return out
    for k, sub in tree.items():
        if k == ".":
            out.add(prefix)
        elif not sub:
            out.add(prefix + (k,))
        else:
            out |= from_fields_v1(sub, prefix + (k,))
    return out


def display_path(path):
    out = ""
    for el in path:
        t, rest = el[0], el[2:]
        if t == "f":
            out += "." + rest
        elif t == "k":
            keys = json.loads(rest)
            out += "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in keys.items()) + "]"
        elif t == "v":
            out += f"[={rest}]"
        elif t == "i":
            out += f"[{rest}]"
    return out


class ManagedEntry:
    def __init__(self, manager, operation, api_version, time_, subresource, fields, orig=None):
        self.orig = orig
        self.orig_fields = set(fields) if orig is not None else None
        self.manager = manager
        self.operation = operation
        self.api_version = api_version
        self.time = time_
        self.subresource = subresource
        self.fields = fields

    def ident(self):
        return (self.manager, self.operation, self.subresource or "")

    def to_json(self):
        if self.orig is not None and self.fields == self.orig_fields:
            return self.orig
        e = {"manager": self.manager, "operation": self.operation, "apiVersion": self.api_version}
        if self.time:
            e["time"] = self.time
        e["fieldsType"] = "FieldsV1"
        e["fieldsV1"] = to_fields_v1(self.fields)
        if self.subresource:
            e["subresource"] = self.subresource
        return e


def parse_managed(mf):
    out = []
    for e in mf or []:
        if not isinstance(e, dict) or not e.get("manager") and not e.get("operation"):
            continue
        out.append(ManagedEntry(e.get("manager", ""), e.get("operation", "Update"), e.get("apiVersion", ""),
                                e.get("time"), e.get("subresource", ""), from_fields_v1(e.get("fieldsV1") or {}),
                                orig=e))
    return out


def managed_valid(mf):
    if not isinstance(mf, list):
        return False
    for e in mf:
        if not isinstance(e, dict) or not e.get("manager") or e.get("operation") not in ("Apply", "Update"):
            return False
        if e.get("fieldsType", "FieldsV1") != "FieldsV1":
            return False
    return True


def track_update(entries, changed, removed, manager, api_version, subresource):
    taken = changed | removed
    if not taken:
        return entries
    out = []
    mine = None
    for e in entries:
        if e.ident() == (manager, "Update", subresource or ""):
            mine = e
        e.fields = e.fields - taken
        out.append(e)
    if changed:
        if mine is None:
            mine = ManagedEntry(manager, "Update", api_version, now_str(), subresource, set())
            out.append(mine)
        mine.fields |= changed
        mine.orig = None
        mine.api_version = api_version
        mine.time = now_str()
    return [e for e in out if e.fields]


def apply_merge(live, applied, s):
    if isinstance(applied, dict) and isinstance(live, dict):
        out = dict(live)
        for k, av in applied.items():
            cs = schema_child(s, k)
            if k == "metadata" and s is not None and s.get("properties", {}).get("metadata") is META:
                cs = META
            out[k] = apply_merge(live[k], av, cs) if k in live else clone(av)
        return out
    if isinstance(applied, list) and isinstance(live, list):
        lt, keys = list_type(s)
        if lt == "set":
            out = [clone(x) for x in live]
            for x in applied:
                if x not in out:
                    out.append(clone(x))
            return out
        if lt == "map" and keys:
            out = [clone(x) for x in live]
            items = s.get("items")
            for it in applied:
                if not isinstance(it, dict):
                    continue
                for i, x in enumerate(out):
                    if isinstance(x, dict) and all(x.get(k) == it.get(k) for k in keys):
                        out[i] = apply_merge(x, it, items)
                        break
                else:
                    out.append(clone(it))
            return out
    return clone(applied)


# ----------------------------------------------------------------------------
# Resource types
# ----------------------------------------------------------------------------

class VInfo:
    def __init__(self, name, served, storage, schema, status=False, scale=None, deprecated=False, warning=None):
        self.name = name
        self.served = served
        self.storage = storage
        self.schema = schema
        self.status = status
        self.scale = scale
        self.deprecated = deprecated
        self.warning = warning


class RType:
    def __init__(self, group, plural, kind, namespaced, versions, singular="", short=(), categories=(),
                 builtin=True, list_kind=None, uncond=False, generation=False, subresources=()):
        self.group = group
        self.plural = plural
        self.kind = kind
        self.namespaced = namespaced
        self.versions = versions
        self.singular = singular
        self.short = list(short)
        self.categories = list(categories)
        self.builtin = builtin
        self.list_kind = list_kind or kind + "List"
        self.uncond = uncond
        self.generation = generation
        self.extra_subresources = list(subresources)
        self.gr = (group, plural)
        self.crd_name = None
        self.field_labels = {"metadata.name": lambda o: o["metadata"].get("name", "")}
        if namespaced:
            self.field_labels["metadata.namespace"] = lambda o: o["metadata"].get("namespace", "")

    @property
    def qualified(self):
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def group_kind(self):
        return f"{self.kind}.{self.group}" if self.group else self.kind

    def gv(self, version):
        return f"{self.group}/{version}" if self.group else version

    @property
    def storage_version(self):
        for v in self.versions.values():
            if v.storage:
                return v
        return next(iter(self.versions.values()))

    def served(self):
        return [v for v in self.versions.values() if v.served]


def version_key(v):
    m = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", v)
    if not m:
        return (3, 0, 0, v)
    return ({None: 0, "beta": 1, "alpha": 2}[m.group(2)], -int(m.group(1)), -int(m.group(3) or 0), v)


NS_GR = ("", "namespaces")
CRD_GR = ("apiextensions.k8s.io", "customresourcedefinitions")


def builtin_types():
    def one(group, plural, kind, namespaced, status=False, **kw):
        return RType(group, plural, kind, namespaced,
                     {"v1": VInfo("v1", True, True, BUILTIN_SCHEMAS[plural], status=status)}, **kw)
    ts = [
        one("", "namespaces", "Namespace", False, status=True, short=["ns"], uncond=True, subresources=["finalize"]),
        one("", "configmaps", "ConfigMap", True, short=["cm"], uncond=True),
        one("", "secrets", "Secret", True, uncond=True),
        one("", "nodes", "Node", False, status=True, short=["no"], uncond=True),
        one("coordination.k8s.io", "leases", "Lease", True),
        one("", "serviceaccounts", "ServiceAccount", True, short=["sa"], uncond=True),
        one("", "services", "Service", True, status=True, short=["svc"], uncond=True),
        one("apps", "deployments", "Deployment", True, status=True, short=["deploy"], generation=True, uncond=True),
        one("rbac.authorization.k8s.io", "clusterroles", "ClusterRole", False, uncond=True),
        one("rbac.authorization.k8s.io", "clusterrolebindings", "ClusterRoleBinding", False, uncond=True),
        one("rbac.authorization.k8s.io", "roles", "Role", True, uncond=True),
        one("rbac.authorization.k8s.io", "rolebindings", "RoleBinding", True, uncond=True),
        one("admissionregistration.k8s.io", "validatingwebhookconfigurations", "ValidatingWebhookConfiguration",
            False, generation=True, uncond=True),
        one("admissionregistration.k8s.io", "mutatingwebhookconfigurations", "MutatingWebhookConfiguration",
            False, generation=True, uncond=True),
        one("apiextensions.k8s.io", "customresourcedefinitions", "CustomResourceDefinition", False, status=True,
            short=["crd", "crds"], categories=["api-extensions"], generation=True),
    ]
    for t in ts:
        if t.plural == "secrets":
            t.field_labels["type"] = lambda o: o.get("type", "")
        if t.plural == "namespaces":
            t.field_labels["status.phase"] = lambda o: (o.get("status") or {}).get("phase", "")
        if t.plural == "nodes":
            t.field_labels["spec.unschedulable"] = \
                lambda o: str(bool((o.get("spec") or {}).get("unschedulable"))).lower()
    return ts


def storage_hash(*parts):
    return base64.b64encode(hashlib.sha256("/".join(parts).encode()).digest()[:8]).decode()


# ----------------------------------------------------------------------------
# Store: etcd's part (a global revision, every version kept for paging)
# ----------------------------------------------------------------------------

class Store:
    def __init__(self):
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.rv = 0
        self.objs = {}
        self.hist = {}
        self.events = []
        self.event_rvs = []

    @staticmethod
    def keystr(key):
        return f"{key[0]}/{key[1]}" if key[0] else key[1]

    def get(self, gr, key):
        return self.objs.get(gr, {}).get(key)

    def _record(self, gr, key, obj, etype, prev):
        self.hist.setdefault(gr, {}).setdefault(key, []).append((self.rv, obj))
        self.events.append((self.rv, gr, key, etype, obj, prev))
        self.event_rvs.append(self.rv)
        with self.cond:
            self.cond.notify_all()

    def put(self, gr, key, obj):
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        prev = self.objs.setdefault(gr, {}).get(key)
        self.objs[gr][key] = obj
        self._record(gr, key, obj, "MODIFIED" if prev is not None else "ADDED", prev)
        return obj

    def delete(self, gr, key, last):
        self.rv += 1
        last = dict(last)
        last["metadata"] = dict(last["metadata"], resourceVersion=str(self.rv))
        prev = self.objs.get(gr, {}).pop(key, None)
        self.hist.setdefault(gr, {}).setdefault(key, []).append((self.rv, None))
        self.events.append((self.rv, gr, key, "DELETED", last, prev))
        self.event_rvs.append(self.rv)
        with self.cond:
            self.cond.notify_all()
        return last

    def snapshot(self, gr, at):
        if at >= self.rv:
            items = self.objs.get(gr, {})
        else:
            items = {}
            for key, versions in self.hist.get(gr, {}).items():
                val = None
                for r, o in versions:
                    if r > at:
                        break
                    val = o
                if val is not None:
                    items[key] = val
        return sorted(items.items(), key=lambda kv: self.keystr(kv[0]))


# ----------------------------------------------------------------------------
# The API
# ----------------------------------------------------------------------------

def set_namespace(rt, m, ns):
    """The request's namespace into the body's metadata m (none for a
    cluster-scoped resource); a body naming another namespace is refused."""
    if rt.namespaced:
        if m.get("namespace") and m["namespace"] != ns:
            raise err_bad_request("the namespace of the provided object does not match the namespace sent on "
                                  "the request")
        m["namespace"] = ns
    else:
        m.pop("namespace", None)


class Request:
    def __init__(self, method, path, query, headers, body, user):
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.user = user
        self.warnings = []
        self.log = {}

    def q(self, name, default=None):
        v = self.query.get(name)
        return v[0] if v else default

    def header(self, name, default=""):
        v = self.headers.get(name)
        return v if v is not None else default

    @property
    def content_type(self):
        ct = self.header("Content-Type")
        return ct.split(";")[0].strip().lower() if ct else ""


class Response:
    def __init__(self, code, obj=None, text=None, content_type=None, headers=None):
        self.code = code
        self.obj = obj
        self.text = text
        self.content_type = content_type
        self.headers = headers or []


class WatchResponse:
    def __init__(self, rt, vi, initial, since, matches, timeout):
        self.rt = rt
        self.vi = vi
        self.initial = initial
        self.since = since
        self.matches = matches
        self.timeout = timeout


def success_status(rt, name, uid):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": mk_details(name, rt.group, rt.plural, uid=uid)}


META_ORDER = ["name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
              "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
              "ownerReferences", "finalizers", "managedFields"]


def ordered(obj, api_version=None, kind=None, typed=True):
    out = {}
    if typed:
        out["apiVersion"] = api_version if api_version is not None else obj.get("apiVersion")
        out["kind"] = kind if kind is not None else obj.get("kind")
    m = obj.get("metadata")
    if isinstance(m, dict):
        om = {k: m[k] for k in META_ORDER if k in m}
        for k in m:
            if k not in om:
                om[k] = m[k]
        out["metadata"] = om
    for k, v in obj.items():
        if k not in ("apiVersion", "kind", "metadata"):
            out[k] = v
    return out


def parse_jsonpath(p):
    return [x for x in (p or "").lstrip(".").split(".") if x]


def get_in(obj, path):
    cur = obj
    for p in path:
        if not isinstance(cur, dict) or p not in cur:
            return None
        cur = cur[p]
    return cur


def set_in(obj, path, value):
    cur = obj
    for p in path[:-1]:
        cur = cur.setdefault(p, {})
    cur[path[-1]] = value


class Api:
    def __init__(self, serve_delay=0.0):
        self.store = Store()
        self.lock = self.store.lock
        self.types = {}
        self.crd_ready = {}
        self.serve_delay = serve_delay
        self.server_address = "127.0.0.1:6443"
        self.stopping = False
        for t in builtin_types():
            self.types[t.gr] = t
        for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.create(self.types[NS_GR], self.types[NS_GR].versions["v1"], None,
                        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
                        manager="kube-apiserver", dry_run=False)

    # -- type lookup ------------------------------------------------------

    def rtype(self, group, version, plural):
        rt = self.types.get((group, plural))
        if rt is None:
            return None, None
        vi = rt.versions.get(version)
        if vi is None or not vi.served:
            return None, None
        if rt.crd_name and time.monotonic() < self.crd_ready.get(rt.crd_name, 0):
            return None, None
        return rt, vi

    def group_versions(self):
        groups = {}
        for rt in self.types.values():
            if rt.crd_name and time.monotonic() < self.crd_ready.get(rt.crd_name, 0):
                continue
            for v in rt.served():
                groups.setdefault(rt.group, set()).add(v.name)
        return {g: sorted(vs, key=version_key) for g, vs in groups.items()}

    # -- discovery ----------------------------------------------------------

    def discovery(self, segs):
        gvs = self.group_versions()
        if segs == ["api"]:
            return {"kind": "APIVersions", "versions": ["v1"],
                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": self.server_address}]}
        if segs == ["apis"]:
            order = ["apiextensions.k8s.io", "coordination.k8s.io"]
            names = [g for g in order if g in gvs] + sorted(g for g in gvs if g and g not in order)
            return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [self._group(g, gvs[g]) for g in names]}
        if len(segs) == 2 and segs[0] == "apis" and segs[1] in gvs and segs[1]:
            d = {"kind": "APIGroup", "apiVersion": "v1"}
            d.update(self._group(segs[1], gvs[segs[1]]))
            return d
        if segs == ["api", "v1"]:
            return {"kind": "APIResourceList", "groupVersion": "v1", "resources": self._resources("", "v1")}
        if len(segs) == 3 and segs[0] == "apis" and segs[1] and segs[2] in gvs.get(segs[1], []):
            return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{segs[1]}/{segs[2]}",
                    "resources": self._resources(segs[1], segs[2])}
        return None

    @staticmethod
    def _group(g, versions):
        vs = [{"groupVersion": f"{g}/{v}", "version": v} for v in versions]
        return {"name": g, "versions": vs, "preferredVersion": vs[0]}

    def _resources(self, group, version):
        out = []
        for rt in sorted(self.types.values(), key=lambda t: t.plural):
            if rt.group != group:
                continue
            vi = rt.versions.get(version)
            if vi is None or not vi.served:
                continue
            if rt.crd_name and time.monotonic() < self.crd_ready.get(rt.crd_name, 0):
                continue
            if rt.builtin:
                verbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
            else:
                verbs = ["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"]
            r = {"name": rt.plural, "singularName": "" if rt.builtin else rt.singular, "namespaced": rt.namespaced,
                 "kind": rt.kind, "verbs": verbs}
            if rt.short:
                r["shortNames"] = rt.short
            if rt.categories:
                r["categories"] = rt.categories
            r["storageVersionHash"] = storage_hash(rt.group, rt.storage_version.name, rt.kind)
            out.append(r)
            if "finalize" in rt.extra_subresources:
                out.append({"name": f"{rt.plural}/finalize", "singularName": "", "namespaced": rt.namespaced,
                            "kind": rt.kind, "verbs": ["update"]})
            if vi.scale:
                out.append({"name": f"{rt.plural}/scale", "singularName": "", "namespaced": rt.namespaced,
                            "group": "autoscaling", "version": "v1", "kind": "Scale",
                            "verbs": ["get", "patch", "update"]})
            if vi.status:
                out.append({"name": f"{rt.plural}/status", "singularName": "", "namespaced": rt.namespaced,
                            "kind": rt.kind, "verbs": ["get", "patch", "update"]})
        return out

    # -- presenting -----------------------------------------------------------

    def present(self, rt, vi, obj, in_list=False):
        if in_list and rt.builtin:
            return ordered(obj, typed=False)
        return ordered(obj, rt.gv(vi.name), rt.kind)

    def scale_view(self, rt, vi, obj):
        sc = vi.scale or {}
        m = obj["metadata"]
        meta = {k: m[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in m}
        spec_r = get_in(obj, parse_jsonpath(sc.get("specReplicasPath", ".spec.replicas")))
        st = {"replicas": get_in(obj, parse_jsonpath(sc.get("statusReplicasPath", ".status.replicas"))) or 0}
        if sc.get("labelSelectorPath"):
            sel = get_in(obj, parse_jsonpath(sc["labelSelectorPath"]))
            if sel:
                st["selector"] = sel
        return {"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": meta,
                "spec": {"replicas": spec_r or 0} if spec_r else {}, "status": st}

    # -- decoding -------------------------------------------------------------

    def parse_body(self, req, body=None, allow_yaml=True):
        raw = req.body if body is None else body
        ct = req.content_type or "application/json"
        dupes = []

        def hook(pairs):
            d = {}
            for k, v in pairs:
                if k in d:
                    dupes.append(k)
                d[k] = v
            return d
        if ct == "application/json":
            try:
                return json.loads(raw.decode("utf-8") if raw else "", object_pairs_hook=hook), dupes
            except (ValueError, UnicodeDecodeError) as e:
                raise err_bad_request(f"couldn't get version/kind; json parse error: {json_error(e)}")
        if ct == "application/yaml" and allow_yaml:
            try:
                return yaml.load(raw.decode("utf-8"), Loader=_YAML_LOADER), dupes
            except (yaml.YAMLError, UnicodeDecodeError) as e:
                raise err_bad_request(f"error converting YAML to JSON: {str(e).splitlines()[0]}")
        raise err_unsupported_media(["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"])

    def decode(self, req, rt, vi, obj, dupes=(), defaults=True, what="request"):
        """The codec + pruning step: type meta checks, unknown fields, nulls, defaults."""
        if not isinstance(obj, dict):
            raise err_bad_request("couldn't get version/kind; json parse error: json: cannot unmarshal "
                                  f"{JSON_NAMES[json_type(obj)]} into Go value of type struct "
                                  '{ APIVersion string "json:\\"apiVersion,omitempty\\""; Kind string '
                                  '"json:\\"kind,omitempty\\"" }')
        expect = rt.gv(vi.name)
        av, kind = obj.get("apiVersion"), obj.get("kind")
        if rt.builtin:
            if av and av != expect:
                raise err_bad_request(f"the API version in the data ({av}) does not match the expected API version "
                                      f"({expect})")
            if kind and kind != rt.kind:
                raise err_bad_request(f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})")
        else:
            if not kind:
                raise err_bad_request(f"Object 'Kind' is missing in '{json.dumps(obj, separators=(',', ':'))}'")
            if not av:
                raise err_bad_request(f"Object 'apiVersion' is missing in '{json.dumps(obj, separators=(',', ':'))}'")
            g, _, v = av.rpartition("/")
            if g != rt.group or v not in rt.versions or not rt.versions[v].served:
                raise err_bad_request(f"the API version in the data ({av}) does not match the expected API version "
                                      f"({expect})")
            if kind != rt.kind:
                raise err_bad_request(f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})")
        obj = dict(obj)
        obj["apiVersion"], obj["kind"] = expect, rt.kind
        if "metadata" in obj and obj["metadata"] is None:
            del obj["metadata"]
        if "metadata" in obj and not isinstance(obj["metadata"], dict):
            raise err_bad_request(f'{rt.kind} in version "{vi.name}" cannot be handled as a {rt.kind}: json: cannot '
                                  f'unmarshal {JSON_NAMES[json_type(obj["metadata"])]} into Go struct field '
                                  f'{rt.kind}.metadata of type v1.ObjectMeta')
        if rt.builtin:
            msg = decode_type_error(obj, vi.schema, "", rt.kind)
        else:
            msg = decode_type_error(obj.get("metadata"), META, "metadata", rt.kind)
        if msg:
            raise err_bad_request(f'{rt.kind} in version "{vi.name}" cannot be handled as a {rt.kind}: {msg}')
        unknown = []
        obj = prune(obj, vi.schema, "", unknown)
        problems = [f'unknown field "{p}"' for p in unknown] + [f'duplicate field "{d}"' for d in dupes]
        mode = req.q("fieldValidation", "Warn") if req else "Ignore"
        if mode not in ("Ignore", "Warn", "Strict"):
            raise err_bad_request(f"fieldValidation parameter unsupported: {mode}")
        if problems and mode == "Strict":
            raise err_bad_request("strict decoding error: " + ", ".join(problems))
        if problems and mode == "Warn":
            req.warnings += problems
        if rt.plural == "secrets":
            self._fold_secret(rt, vi, obj)
        if rt.plural == "configmaps":
            for k, v in (obj.get("binaryData") or {}).items():
                if not b64ok(v):
                    raise err_bad_request(f'ConfigMap in version "v1" cannot be handled as a ConfigMap: illegal '
                                          f"base64 data at input byte {b64bad(v)}")
        if defaults:
            apply_defaults(obj, vi.schema)
        return obj

    @staticmethod
    def _fold_secret(rt, vi, obj):
        for k, v in (obj.get("data") or {}).items():
            if not b64ok(v):
                raise err_bad_request(f'Secret in version "v1" cannot be handled as a Secret: illegal base64 data '
                                      f"at input byte {b64bad(v)}")
        sd = obj.pop("stringData", None)
        if sd:
            data = dict(obj.get("data") or {})
            for k, v in sd.items():
                data[k] = base64.b64encode(v.encode()).decode()
            obj["data"] = data

    # -- validation -------------------------------------------------------------

    def validate_meta(self, rt, obj, old=None):
        m = obj["metadata"]
        errs = []
        name = m.get("name", "")
        if old is None:
            if not name:
                errs.append(FieldError("required", "metadata.name", detail="name or generateName is required"))
            elif rt.gr == CRD_GR:
                pass
            else:
                checks = check_dns_label(name) if rt.gr == NS_GR else check_dns_subdomain(name)
                errs += [FieldError("invalid", "metadata.name", name, p) for p in checks]
        for k, v in (m.get("labels") or {}).items():
            errs += [FieldError("invalid", "metadata.labels", k, p) for p in check_qualified_name(k)]
            errs += [FieldError("invalid", "metadata.labels", v, p) for p in check_label_value(v)]
        ann = m.get("annotations") or {}
        for k in ann:
            errs += [FieldError("invalid", "metadata.annotations", k, p) for p in check_qualified_name(k.lower())]
        if sum(len(k) + len(v) for k, v in ann.items()) > 262144:
            errs.append(FieldError("toolong", "metadata.annotations", detail="must have at most 262144 bytes"))
        for i, f in enumerate(m.get("finalizers") or []):
            errs += [FieldError("invalid", f"metadata.finalizers[{i}]", f, p) for p in check_qualified_name(f)]
        refs = m.get("ownerReferences") or []
        controllers = []
        for ref in refs:
            for fld, what in (("apiVersion", "version"), ("kind", "kind"), ("name", "name"), ("uid", "uid")):
                if not ref.get(fld):
                    errs.append(FieldError("invalid", f"metadata.ownerReferences.{fld}", ref.get(fld, ""),
                                           f"{what} must not be empty"))
            if ref.get("controller"):
                controllers.append(ref)
        if len(controllers) > 1:
            dump = "[]v1.OwnerReference{" + ", ".join(
                "v1.OwnerReference{" + ", ".join(f'{k[0].upper() + k[1:]}:{go_value(v)}' for k, v in r.items()) + "}"
                for r in refs) + "}"
            errs.append(FieldError("invalid", "metadata.ownerReferences", Raw(dump),
                                   'Only one reference can have Controller set to true. Found "true" in references for '
                                   + " and ".join(f"{r.get('kind')}/{r.get('name')}" for r in controllers)))
        if old is not None:
            om = old["metadata"]
            if om.get("deletionTimestamp"):
                added = [f for f in m.get("finalizers") or [] if f not in (om.get("finalizers") or [])]
                if added:
                    errs.append(FieldError("forbidden", "metadata.finalizers", detail=(
                        "no new finalizers can be added if the object is being deleted, found new finalizers "
                        "[]string{" + ", ".join(json.dumps(f) for f in added) + "}")))
        return errs

    def validate_type(self, rt, vi, obj, old=None):
        errs = []
        if not rt.builtin:
            validate_schema(obj, vi.schema, "", errs)
            return errs
        if rt.plural in ("configmaps", "secrets"):
            data = obj.get("data") or {}
            binary = obj.get("binaryData") or {}
            for fld, d in (("data", data), ("binaryData", binary)):
                for k in d:
                    if not CONFIG_KEY.match(k) or len(k) > 253:
                        errs.append(FieldError("invalid", f"{fld}[{k}]", k, MSG_CONFIG_KEY))
            for k in binary:
                if k in data:
                    errs.append(FieldError("invalid", f"data[{k}]", k, "duplicate of key present in binaryData"))
            if rt.plural == "secrets":
                t = obj.get("type", "Opaque")
                if t == "kubernetes.io/tls":
                    for k in ("tls.crt", "tls.key"):
                        if k not in data:
                            errs.append(FieldError("required", f"data[{k}]"))
                if t == "kubernetes.io/dockerconfigjson" and ".dockerconfigjson" not in data:
                    errs.append(FieldError("required", "data[.dockerconfigjson]"))
                if old is not None and old.get("type", "Opaque") != t:
                    errs.append(FieldError("invalid", "type", t, "field is immutable"))
            if old is not None and old.get("immutable"):
                if obj.get("data") != old.get("data"):
                    errs.append(FieldError("forbidden", "data", detail="field is immutable when `immutable` is set"))
                if obj.get("binaryData") != old.get("binaryData"):
                    errs.append(FieldError("forbidden", "binaryData",
                                           detail="field is immutable when `immutable` is set"))
                if not obj.get("immutable"):
                    errs.append(FieldError("forbidden", "immutable",
                                           detail="field is immutable when `immutable` is set"))
        if rt.gr == CRD_GR:
            errs += self.validate_crd(obj, old)
        return errs

    def validate_crd(self, obj, old):
        errs = []
        spec = obj.get("spec") or {}
        name = obj["metadata"].get("name", "")
        group = spec.get("group", "")
        names = spec.get("names") or {}
        plural = names.get("plural", "")
        if not group:
            errs.append(FieldError("required", "spec.group"))
        elif "." not in group:
            errs.append(FieldError("invalid", "spec.group", group, "should be a domain with at least one dot"))
        if not plural:
            errs.append(FieldError("required", "spec.names.plural"))
        if not names.get("kind"):
            errs.append(FieldError("required", "spec.names.kind"))
        if plural and group and name != f"{plural}.{group}":
            errs.append(FieldError("invalid", "metadata.name", name, 'must be spec.names.plural+"."+spec.group'))
        if spec.get("scope") not in ("Cluster", "Namespaced"):
            if not spec.get("scope"):
                errs.append(FieldError("required", "spec.scope"))
            else:
                errs.append(FieldError("notsupported", "spec.scope", spec.get("scope"),
                                       supported=["Cluster", "Namespaced"]))
        versions = spec.get("versions") or []
        if not versions:
            errs.append(FieldError("invalid", "spec.versions",
                                   Raw("[]apiextensions.CustomResourceDefinitionVersion(nil)"),
                                   "must have exactly one version marked as storage version"))
        else:
            if sum(1 for v in versions if isinstance(v, dict) and v.get("storage")) != 1:
                errs.append(FieldError("invalid", "spec.versions",
                                       Raw("[]apiextensions.CustomResourceDefinitionVersion{...}"),
                                       "must have exactly one version marked as storage version"))
            seen = set()
            for i, v in enumerate(versions):
                if not isinstance(v, dict) or not v.get("name"):
                    errs.append(FieldError("required", f"spec.versions[{i}].name"))
                    continue
                if v["name"] in seen:
                    errs.append(FieldError("invalid", "spec.versions", v["name"], "must contain unique version names"))
                seen.add(v["name"])
                if not ((v.get("schema") or {}).get("openAPIV3Schema")):
                    errs.append(FieldError("required", f"spec.versions[{i}].schema.openAPIV3Schema",
                                           detail="schemas are required"))
        if old is not None:
            ospec = old.get("spec") or {}
            for fld in ("group", "scope"):
                if ospec.get(fld) != spec.get(fld):
                    errs.append(FieldError("invalid", f"spec.{fld}", spec.get(fld), "field is immutable"))
            for fld in ("plural", "kind"):
                if (ospec.get("names") or {}).get(fld) != names.get(fld):
                    errs.append(FieldError("invalid", f"spec.names.{fld}", names.get(fld), "field is immutable"))
        return errs

    # -- strategies -------------------------------------------------------------

    def prepare_create(self, rt, vi, obj):
        m = obj["metadata"]
        if rt.gr == NS_GR:
            spec = obj.setdefault("spec", {})
            fins = list(spec.get("finalizers") or [])
            if "kubernetes" not in fins:
                fins.append("kubernetes")
            spec["finalizers"] = fins
            obj["status"] = {"phase": "Active"}
            if m.get("name"):
                m.setdefault("labels", {})["kubernetes.io/metadata.name"] = m["name"]
        elif rt.plural == "secrets" and rt.builtin:
            obj.setdefault("type", "Opaque")
        elif rt.gr == CRD_GR:
            spec = obj.setdefault("spec", {})
            names = spec.setdefault("names", {})
            if names.get("kind"):
                names.setdefault("singular", names["kind"].lower())
                names.setdefault("listKind", names["kind"] + "List")
            spec.setdefault("conversion", {"strategy": "None"})
            storage = [v.get("name") for v in spec.get("versions") or [] if isinstance(v, dict) and v.get("storage")]
            obj["status"] = {"acceptedNames": {"kind": "", "plural": ""}, "storedVersions": storage[:1]}
        elif vi.status and rt.gr != ("", "nodes"):
            obj.pop("status", None)
        if rt.generation:
            m["generation"] = 1
        if not rt.builtin:
            apply_defaults(obj, vi.schema)

    def prepare_update(self, rt, vi, old, new, sub):
        if sub == "status":
            out = clone(old)
            if "status" in new:
                out["status"] = new["status"]
            else:
                out.pop("status", None)
        elif sub == "finalize":
            out = clone(old)
            out.setdefault("spec", {})["finalizers"] = list((new.get("spec") or {}).get("finalizers") or [])
        else:
            out = new
            if vi.status:
                if "status" in old:
                    out["status"] = clone(old["status"])
                else:
                    out.pop("status", None)
            if rt.gr == NS_GR:
                out.setdefault("spec", {})["finalizers"] = list((old.get("spec") or {}).get("finalizers") or [])
                out["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = old["metadata"]["name"]
            if rt.plural == "secrets" and rt.builtin:
                out.setdefault("type", "Opaque")
        if rt.gr == CRD_GR:
            st = out.setdefault("status", {})
            stored = list(st.get("storedVersions") or [])
            for v in (out.get("spec") or {}).get("versions") or []:
                if isinstance(v, dict) and v.get("storage") and v.get("name") not in stored:
                    stored.append(v["name"])
            st["storedVersions"] = stored
        if rt.generation:
            gen = old["metadata"].get("generation", 0)
            skip = {"metadata", "apiVersion", "kind"}
            if vi.status or rt.gr == CRD_GR:
                skip.add("status")
            a = {k: v for k, v in old.items() if k not in skip}
            b = {k: v for k, v in out.items() if k not in skip}
            if a != b:
                gen += 1
            out["metadata"]["generation"] = gen
        if not rt.builtin:
            apply_defaults(out, vi.schema)
        return out

    # -- namespace admission ----------------------------------------------------

    def admit_namespace(self, rt, ns, name):
        nsobj = self.store.get(NS_GR, ("", ns))
        if nsobj is None:
            raise err_ns_not_found(ns)
        if nsobj["metadata"].get("deletionTimestamp"):
            raise ApiError(403, "Forbidden", f'{rt.qualified} "{name}" is forbidden: unable to create new content in '
                           f"namespace {ns} because it is being terminated",
                           mk_details(name, rt.group, rt.plural, [{"reason": "NamespaceTerminating",
                                                                   "message": f"namespace {ns} is being terminated",
                                                                   "field": "metadata.namespace"}]))

    # -- create -------------------------------------------------------------------

    def create(self, rt, vi, ns, obj, manager, dry_run, managed_override=None, req=None):
        m = obj.setdefault("metadata", {})
        set_namespace(rt, m, ns)
        body_rv = m.get("resourceVersion", "")
        m.pop("managedFields", None)
        if rt.crd_name:
            crd = self.store.get(CRD_GR, ("", rt.crd_name))
            if crd and crd["metadata"].get("deletionTimestamp"):
                raise ApiError(405, "MethodNotAllowed",
                               "create not allowed while custom resource definition is terminating", {})
        if not m.get("name") and m.get("generateName"):
            base = m["generateName"][:58]
            for _ in range(20):
                cand = base + "".join(random.choice(NAME_CHARS) for _ in range(5))
                if self.store.get(rt.gr, (ns or "", cand)) is None:
                    break
            m["name"] = cand
        self.prepare_create(rt, vi, obj)
        m["uid"] = str(uuid.uuid4())
        m["creationTimestamp"] = now_str()
        for k in ("deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
            m.pop(k, None)
        name = m.get("name", "")
        errs = self.validate_meta(rt, obj) + self.validate_type(rt, vi, obj)
        if errs:
            raise err_invalid(rt, name, errs)
        if rt.namespaced:
            self.admit_namespace(rt, ns, name)
        self.admit_webhooks(rt, vi, "CREATE", dry_run)
        if managed_override is not None:
            mf = managed_override
        else:
            fs = field_set(obj, vi.schema, "main" if (vi.status and rt.gr != ("", "nodes")) else "all")
            mf = [ManagedEntry(manager, "Update", rt.gv(vi.name), now_str(), "", fs).to_json()] if fs else []
        if mf:
            m["managedFields"] = mf
        if dry_run:
            m.pop("resourceVersion", None)
            return obj
        if body_rv:
            raise err_internal("resourceVersion should not be set on objects to be created")
        key = (ns or "", name)
        if self.store.get(rt.gr, key) is not None:
            raise err_exists(rt, name)
        obj = ordered(obj)
        self.store.put(rt.gr, key, obj)
        if rt.gr == CRD_GR:
            self.crd_created(obj)
        return obj

    # -- admission webhooks -------------------------------------------------------

    def webhook_backend_error(self, ns, svc_name):
        """None when the Service has a ready backend, else the reason a real
        apiserver's webhook client gives. Nothing here runs pods or the
        endpoints controller, so a backend is modelled as: the Service exists,
        and a Deployment in its namespace whose pod template labels match the
        Service's selector has the condition Available=True. Only a test
        writes that condition (through deployments/NAME/status), standing in
        for the deployment controller and a started webhook server."""
        svc = self.store.get(("", "services"), (ns, svc_name))
        if svc is None:
            return f'service "{svc_name}" not found'
        sel = (svc.get("spec") or {}).get("selector") or {}
        for (dns, _), d in sorted(self.store.objs.get(("apps", "deployments"), {}).items()):
            if dns != ns or not sel:
                continue
            labels = (((d.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
            if not all(labels.get(k) == v for k, v in sel.items()):
                continue
            conds = (d.get("status") or {}).get("conditions") or []
            if any(c.get("type") == "Available" and c.get("status") == "True" for c in conds):
                return None
        return f'no endpoints available for service "{svc_name}"'

    @staticmethod
    def webhook_matches(wh, rt, version, op):
        def has(lst, v):
            return "*" in lst or v in lst
        for rule in wh.get("rules") or []:
            if (has(rule.get("apiGroups") or [], rt.group) and has(rule.get("apiVersions") or [], version)
                    and has(rule.get("resources") or [], rt.plural) and has(rule.get("operations") or [], op)):
                scope = rule.get("scope", "*")
                if scope == "*" or (scope == "Namespaced") == rt.namespaced:
                    return True
        return False

    def admit_webhooks(self, rt, vi, op, dry_run):
        """The webhook admission plugins (mutating, then validating): every
        webhook whose rules match is called; one whose Service has no ready
        backend fails the request with failurePolicy Fail (the default) as a
        real apiserver does: 500 InternalError "failed calling webhook".
        A webhook that answers allows the request: the stand-in runs no
        webhook code, so it neither mutates nor denies. namespaceSelector,
        objectSelector, matchConditions and URL webhooks are not modelled
        (a URL webhook is reported unreachable)."""
        for gr in (("admissionregistration.k8s.io", "mutatingwebhookconfigurations"),
                   ("admissionregistration.k8s.io", "validatingwebhookconfigurations")):
            for _, cfg in sorted(self.store.objs.get(gr, {}).items()):
                if cfg["metadata"].get("deletionTimestamp"):
                    continue
                for wh in cfg.get("webhooks") or []:
                    if not self.webhook_matches(wh, rt, vi.name, op):
                        continue
                    name = wh.get("name", "")
                    if dry_run and wh.get("sideEffects") not in ("None", "NoneOnDryRun"):
                        raise err_bad_request(f'admission webhook "{name}" does not support dry run')
                    cc = wh.get("clientConfig") or {}
                    svc = cc.get("service")
                    if svc:
                        err = self.webhook_backend_error(svc.get("namespace", ""), svc.get("name", ""))
                        url = (f'https://{svc.get("name", "")}.{svc.get("namespace", "")}.svc:{svc.get("port", 443)}'
                               f'{svc.get("path", "")}?timeout={wh.get("timeoutSeconds", 10)}s')
                    else:
                        url = cc.get("url", "")
                        err = "dial tcp: connect: connection refused"
                    if err is None or wh.get("failurePolicy", "Fail") == "Ignore":
                        continue
                    msg = f'failed calling webhook "{name}": failed to call webhook: Post "{url}": {err}'
                    raise ApiError(500, "InternalError", f"Internal error occurred: {msg}",
                                   mk_details(causes=[{"message": msg}]))

    # -- update -------------------------------------------------------------------

    def update(self, rt, vi, ns, name, body, sub, manager, dry_run, is_patch=False, managed_override=None):
        key = (ns or "", name)
        old = self.store.get(rt.gr, key)
        if old is None:
            raise err_not_found(rt, name)
        m = body.setdefault("metadata", {})
        if m.get("name", "") != name:
            raise err_bad_request(f"the name of the object ({m.get('name', '')}) does not match the name on the URL "
                                  f"({name})")
        set_namespace(rt, m, ns)
        om = old["metadata"]
        errs = []
        if m.get("uid") and m["uid"] != om["uid"]:
            if not is_patch:
                raise err_conflict(rt, name, f"StorageError: invalid object, Code: 4, Key: {self.etcd_key(rt, key)}, "
                                             f"ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: UID in "
                                             f"precondition: {m['uid']}, UID in object meta: {om['uid']}")
            errs.append(FieldError("invalid", "metadata.uid", m["uid"], "field is immutable"))
        rv = m.get("resourceVersion", "")
        if not rv:
            if not rt.uncond and not is_patch:
                raise err_invalid(rt, name, [FieldError("invalid", "metadata.resourceVersion", Raw("0x0"),
                                                        "must be specified for an update")])
        elif rv != om["resourceVersion"]:
            raise err_conflict(rt, name)
        incoming_mf = m.get("managedFields")
        new = self.prepare_update(rt, vi, old, body, sub)
        nm = new["metadata"]
        nm["uid"] = om["uid"]
        nm["resourceVersion"] = om["resourceVersion"]
        nm["name"] = name
        for k in ("creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"):
            if k in om:
                nm[k] = om[k]
            else:
                nm.pop(k, None)
        if not rt.generation:
            nm.pop("generation", None)
        nm.pop("selfLink", None)
        errs += self.validate_meta(rt, new, old) + self.validate_type(rt, vi, new, old)
        if errs:
            raise err_invalid(rt, name, errs)
        old_mf = om.get("managedFields")
        if managed_override is not None:
            mf = managed_override
        elif sub not in ("status", "finalize") and incoming_mf and incoming_mf != old_mf:
            if incoming_mf == [{}]:
                mf = []
            elif managed_valid(incoming_mf):
                mf = incoming_mf
            else:
                mf = self.tracked(rt, vi, old, new, old_mf, manager, sub)
        else:
            mf = self.tracked(rt, vi, old, new, old_mf, manager, sub)
        if mf:
            nm["managedFields"] = mf
        else:
            nm.pop("managedFields", None)
        if sub is None and not nm.get("deletionTimestamp"):
            self.admit_webhooks(rt, vi, "UPDATE", dry_run)
        new = ordered(new)
        if new == old:
            return old
        if dry_run:
            return new
        if nm.get("deletionTimestamp") and not nm.get("finalizers") and not (
                rt.gr == NS_GR and (new.get("spec") or {}).get("finalizers")):
            last = self.store.delete(rt.gr, key, new)
            self.after_delete(rt, last)
            return last
        self.store.put(rt.gr, key, new)
        if rt.gr == CRD_GR:
            self.register_crd(new)
        return new

    def tracked(self, rt, vi, old, new, old_mf, manager, sub):
        """managedFields after an Update operation by manager."""
        part = "status" if sub == "status" else ("main" if vi.status else "all")
        changed, removed = object_changes(old, new, vi.schema, part)
        if not changed and not removed:
            return old_mf
        entries = track_update(parse_managed(old_mf), changed, removed, manager, rt.gv(vi.name),
                               sub if sub in ("status", "scale") else "")
        return [e.to_json() for e in entries]

    @staticmethod
    def etcd_key(rt, key):
        base = f"/registry/{rt.group + '/' if rt.group and not rt.builtin else ''}{rt.plural}"
        if rt.gr == CRD_GR:
            base = "/registry/apiextensions.k8s.io/customresourcedefinitions"
        return f"{base}/{key[0]}/{key[1]}" if key[0] else f"{base}/{key[1]}"

    # -- delete -------------------------------------------------------------------

    def delete(self, rt, ns, name, opts, dry_run):
        key = (ns or "", name)
        obj = self.store.get(rt.gr, key)
        if obj is None:
            raise err_not_found(rt, name)
        m = obj["metadata"]
        pre = opts.get("preconditions") or {}
        if pre.get("uid") and pre["uid"] != m["uid"]:
            raise err_conflict(rt, name, f"Precondition failed: UID in precondition: {pre['uid']}, UID in object "
                                         f"meta: {m['uid']}")
        if pre.get("resourceVersion") and pre["resourceVersion"] != m["resourceVersion"]:
            raise err_conflict(rt, name, f"Precondition failed: ResourceVersion in precondition: "
                                         f"{pre['resourceVersion']}, ResourceVersion in meta: {m['resourceVersion']}")
        policy = opts.get("propagationPolicy")
        orphan = opts.get("orphanDependents")
        if policy is not None and orphan is not None:
            raise ApiError(422, "Invalid", 'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Invalid '
                           f'value: "{policy}": orphanDependents and deletionPropagation cannot be both set',
                           mk_details(None, "meta.k8s.io", "DeleteOptions"))
        if policy is None and orphan is not None:
            policy = "Orphan" if orphan else "Background"
        if policy not in (None, "Orphan", "Foreground", "Background"):
            raise ApiError(422, "Invalid", 'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported '
                           f'value: "{policy}": supported values: "Foreground", "Background", "Orphan"',
                           mk_details(None, "meta.k8s.io", "DeleteOptions",
                                      [{"reason": "FieldValueNotSupported", "field": "propagationPolicy",
                                        "message": f'Unsupported value: "{policy}": supported values: "Foreground", '
                                                   '"Background", "Orphan"'}]))
        if rt.gr == NS_GR and name in PROTECTED_NAMESPACES:
            raise ApiError(403, "Forbidden", f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                           mk_details(name, None, "namespaces"))
        fins = list(m.get("finalizers") or [])
        add = {"Orphan": "orphan", "Foreground": "foregroundDeletion"}.get(policy)
        if add and add not in fins:
            fins.append(add)
        graceful = bool(fins) or rt.gr in (NS_GR, CRD_GR)
        if rt.gr == NS_GR and m.get("deletionTimestamp") and not fins and not (obj.get("spec") or {}).get(
                "finalizers"):
            graceful = False
        if graceful:
            new = clone(obj)
            nm = new["metadata"]
            if rt.gr == CRD_GR and CRD_FINALIZER not in fins:
                fins.append(CRD_FINALIZER)
            if fins:
                nm["finalizers"] = fins
            if not nm.get("deletionTimestamp"):
                if nm.get("generation", 0) > 0:
                    nm["generation"] += 1
                nm["deletionTimestamp"] = now_str()
                nm["deletionGracePeriodSeconds"] = 0
                if rt.gr == NS_GR:
                    new.setdefault("status", {})["phase"] = "Terminating"
                if rt.gr == CRD_GR:
                    conds = [c for c in (new.get("status") or {}).get("conditions") or []
                             if c.get("type") != "Terminating"]
                    conds.append({"type": "Terminating", "status": "True", "lastTransitionTime": now_str(),
                                  "reason": "InstanceDeletionInProgress",
                                  "message": "CustomResource deletion is in progress"})
                    new.setdefault("status", {})["conditions"] = conds
            new = ordered(new)
            if new == obj or dry_run:
                return Response(200, self.present(rt, rt.storage_version, new))
            self.store.put(rt.gr, key, new)
            if rt.gr == CRD_GR:
                self.cleanup_crd(new)
            return Response(200, self.present(rt, rt.storage_version, new))
        if dry_run:
            return Response(200, success_status(rt, name, m["uid"]))
        last = self.store.delete(rt.gr, key, obj)
        self.after_delete(rt, last)
        return Response(200, success_status(rt, name, m["uid"]))

    def after_delete(self, rt, last):
        if rt.gr == CRD_GR:
            gr = (last["spec"]["group"], last["spec"]["names"]["plural"])
            t = self.types.get(gr)
            if t is not None and t.crd_name == last["metadata"]["name"]:
                del self.types[gr]
                self.store.objs.pop(gr, None)
            return
        if rt.crd_name:
            crd = self.store.get(CRD_GR, ("", rt.crd_name))
            if crd is not None and crd["metadata"].get("deletionTimestamp"):
                self.cleanup_crd(crd)

    def instances(self, crd):
        spec = crd.get("spec") or {}
        return self.store.objs.get((spec.get("group"), (spec.get("names") or {}).get("plural")), {})

    def cleanup_crd(self, crd):
        """The apiextensions finalizer: delete every instance, then the CRD."""
        spec = crd["spec"]
        rt = self.types.get((spec["group"], spec["names"]["plural"]))
        if rt is not None:
            for key, obj in list(self.instances(crd).items()):
                if obj["metadata"].get("deletionTimestamp"):
                    continue
                if obj["metadata"].get("finalizers"):
                    new = clone(obj)
                    nm = new["metadata"]
                    nm["generation"] = nm.get("generation", 0) + 1
                    nm["deletionTimestamp"] = now_str()
                    nm["deletionGracePeriodSeconds"] = 0
                    self.store.put(rt.gr, key, ordered(new))
                else:
                    self.store.delete(rt.gr, key, obj)
        if not self.instances(crd):
            cur = self.store.get(CRD_GR, ("", crd["metadata"]["name"]))
            if cur is None:
                return
            fins = [f for f in cur["metadata"].get("finalizers") or [] if f != CRD_FINALIZER]
            if fins:
                new = clone(cur)
                new["metadata"]["finalizers"] = fins
                self.store.put(CRD_GR, ("", cur["metadata"]["name"]), new)
                return
            last = self.store.delete(CRD_GR, ("", cur["metadata"]["name"]), cur)
            self.after_delete(self.types[CRD_GR], last)

    # -- CRDs -----------------------------------------------------------------------

    def register_crd(self, crd):
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        versions = {}
        for v in sorted(spec.get("versions") or [], key=lambda v: version_key(v.get("name", ""))):
            sub = v.get("subresources") or {}
            versions[v["name"]] = VInfo(v["name"], bool(v.get("served")), bool(v.get("storage")),
                                        effective_cr_schema((v.get("schema") or {}).get("openAPIV3Schema")),
                                        status="status" in sub, scale=sub.get("scale"),
                                        deprecated=bool(v.get("deprecated")), warning=v.get("deprecationWarning"))
        rt = RType(spec["group"], names["plural"], names["kind"], spec.get("scope") == "Namespaced", versions,
                   singular=names.get("singular") or names["kind"].lower(), short=names.get("shortNames") or [],
                   categories=names.get("categories") or [], builtin=False, list_kind=names.get("listKind"),
                   generation=True)
        rt.crd_name = crd["metadata"]["name"]
        self.types[rt.gr] = rt
        return rt

    def crd_established_status(self, crd):
        spec = crd["spec"]
        names = clone(spec.get("names") or {})
        t = now_str()
        st = clone(crd.get("status") or {})
        st["acceptedNames"] = names
        st["conditions"] = [
            {"type": "NamesAccepted", "status": "True", "lastTransitionTime": t, "reason": "NoConflicts",
             "message": "no conflicts found"},
            {"type": "Established", "status": "True", "lastTransitionTime": t, "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted"}]
        return st

    def crd_created(self, crd, delay=None):
        """What the naming and establishing controllers do right after a CRD is created."""
        self.register_crd(crd)
        self.crd_ready[crd["metadata"]["name"]] = time.monotonic() + (self.serve_delay if delay is None else delay)
        new = clone(crd)
        new["status"] = self.crd_established_status(crd)
        rt = self.types[CRD_GR]
        vi = rt.versions["v1"]
        mf = self.tracked(rt, vi, {k: v for k, v in crd.items() if k != "status"} | {"status": {}}, new,
                          crd["metadata"].get("managedFields"), "kube-apiserver", "status")
        if mf:
            new["metadata"]["managedFields"] = mf
        self.store.put(CRD_GR, ("", crd["metadata"]["name"]), ordered(new))


def json_error(e):
    if isinstance(e, json.JSONDecodeError):
        return f"invalid character at offset {e.pos}: {e.msg}"
    return str(e)


def b64ok(v):
    try:
        base64.b64decode(v, validate=True)
        return True
    except (binascii.Error, ValueError, TypeError):
        return False


def b64bad(v):
    for i in range(len(v or "")):
        if v[i] not in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=":
            return i
    return len(v or "")


# ----------------------------------------------------------------------------
# Request dispatch
# ----------------------------------------------------------------------------

def ua_manager(req):
    ua = req.header("User-Agent")
    return ua.split("/")[0][:128] if ua else "unknown"


def apply_conflict_error(conflicts):
    def who(e):
        if e.operation == "Update":
            return f'conflict with "{e.manager}" using {e.api_version}'
        return f'conflict with "{e.manager}"'
    n = len(conflicts)
    if n == 1:
        e, p = conflicts[0]
        msg = f"Apply failed with 1 conflict: {who(e)}: {display_path(p)}"
    else:
        groups = {}
        for e, p in conflicts:
            groups.setdefault(who(e), []).append(display_path(p))
        parts = []
        for w, ps in groups.items():
            if len(ps) == 1:
                parts.append(f"{w}: {ps[0]}")
            else:
                parts.append(w.replace("conflict with", "conflicts with", 1) + ":\n" + "\n".join(f"- {p}" for p in ps))
        msg = f"Apply failed with {n} conflicts: " + "\n".join(parts)
    causes = [{"reason": "FieldManagerConflict", "message": who(e), "field": display_path(p)} for e, p in conflicts]
    return ApiError(409, "Conflict", msg, {"causes": causes})


def continue_token(rv, start):
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def parse_continue(tok):
    try:
        raw = base64.urlsafe_b64decode(tok + "=" * (-len(tok) % 4))
        d = json.loads(raw)
        if d.get("v") != "meta.k8s.io/v1":
            raise ValueError("continue key is not valid: incorrect encoded start resourceVersion (version "
                             "meta.k8s.io/v1)")
        return int(d["rv"]), str(d["start"])
    except (ValueError, KeyError, TypeError, binascii.Error) as e:
        raise err_bad_request(f"continue key is not valid: {e}")


class Dispatcher:
    """Turns a Request into a Response (or a WatchResponse) on an Api."""

    def __init__(self, api):
        self.api = api

    def handle(self, req):
        path = req.path
        if path in ("/healthz", "/livez", "/readyz"):
            return Response(200, text="ok", content_type="text/plain; charset=utf-8")
        if path == "/version":
            return Response(200, dict(VERSION_INFO))
        if path == "/":
            with self.api.lock:
                gvs = self.api.group_versions()
            paths = ["/api", "/api/v1", "/apis", "/apis/"] + sorted(
                p for g, vs in gvs.items() if g for p in [f"/apis/{g}"] + [f"/apis/{g}/{v}" for v in vs])
            paths += ["/healthz", "/livez", "/readyz", "/version"]
            return Response(200, {"paths": paths})
        segs = [s for s in path.split("/") if s]
        if not segs or segs[0] not in ("api", "apis"):
            raise page_not_found()
        with self.api.lock:
            d = self.api.discovery(segs)
            if d is not None:
                if req.method != "GET":
                    raise err_method_not_allowed()
                return Response(200, d)
            return self.resource(req, segs)

    def resource(self, req, segs):
        api = self.api
        if segs[0] == "api":
            if len(segs) < 3 or segs[1] != "v1":
                raise page_not_found()
            group, version, rest = "", "v1", segs[2:]
        else:
            if len(segs) < 4:
                raise page_not_found()
            group, version, rest = segs[1], segs[2], segs[3:]
        if rest[0] == "watch":
            raise page_not_found()
        ns = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            cand, _ = api.rtype(group, version, rest[2])
            if cand is not None and cand.namespaced:
                ns, rest = rest[1], rest[2:]
        rt, vi = api.rtype(group, version, rest[0])
        if rt is None or len(rest) > 3:
            raise page_not_found()
        if ns is None and rt.namespaced and len(rest) > 1:
            raise page_not_found()
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if sub is not None and not ((sub == "status" and vi.status) or (sub == "scale" and vi.scale)
                                    or sub in rt.extra_subresources):
            raise page_not_found()
        if vi.deprecated:
            req.warnings.append(vi.warning or f"{rt.gv(vi.name)} {rt.kind} is deprecated")
        dry_run = self.dry_run(req)
        manager = req.q("fieldManager") or ua_manager(req)
        req.log["fieldManager"] = manager
        if dry_run:
            req.log["dryRun"] = "All"
        m = req.method
        if name is None:
            if m == "GET":
                if req.q("watch") in ("1", "true"):
                    return self.watch(req, rt, vi, ns, None)
                return Response(200, self.list(req, rt, vi, ns))
            if m == "POST" and (ns is not None or not rt.namespaced):
                body, dupes = api.parse_body(req)
                obj = api.decode(req, rt, vi, body, dupes)
                res = api.create(rt, vi, ns, obj, manager, dry_run, req=req)
                return Response(201, api.present(rt, vi, res))
            if m == "DELETE" and (ns is not None or not rt.namespaced):
                return Response(200, self.delete_collection(req, rt, vi, ns, dry_run))
            raise err_method_not_allowed()
        if sub == "finalize":
            if m != "PUT":
                raise err_method_not_allowed()
            body, dupes = api.parse_body(req)
            obj = api.decode(req, rt, vi, body, dupes)
            return Response(200, api.present(rt, vi, api.update(rt, vi, ns, name, obj, "finalize", manager, dry_run)))
        if m == "GET":
            if req.q("watch") in ("1", "true") and sub is None:
                return self.watch(req, rt, vi, ns, name)
            obj = api.store.get(rt.gr, (ns or "", name))
            if obj is None:
                raise err_not_found(rt, name)
            self.check_rv_param(req)
            if sub == "scale":
                return Response(200, api.scale_view(rt, vi, obj))
            return Response(200, api.present(rt, vi, obj))
        if m == "PUT":
            body, dupes = api.parse_body(req)
            if sub == "scale":
                return Response(200, self.scale_update(req, rt, vi, ns, name, body, manager, dry_run))
            obj = api.decode(req, rt, vi, body, dupes)
            return Response(200, api.present(rt, vi, api.update(rt, vi, ns, name, obj, sub, manager, dry_run)))
        if m == "PATCH":
            return self.patch(req, rt, vi, ns, name, sub, manager, dry_run)
        if m == "DELETE" and sub is None:
            opts = self.delete_options(req)
            return api.delete(rt, ns, name, opts, dry_run or opts.get("dryRun"))
        raise err_method_not_allowed()

    # -- helpers ------------------------------------------------------------

    @staticmethod
    def dry_run(req, extra=()):
        vals = list(req.query.get("dryRun", [])) + list(extra)
        for v in vals:
            if v != "All":
                raise err_bad_request(f'dryRun: Unsupported value: "{v}": supported values: "All"')
        return bool(vals)

    def check_rv_param(self, req):
        rv = req.q("resourceVersion")
        if rv in (None, "", "0"):
            return
        try:
            n = int(rv)
        except ValueError:
            raise err_bad_request(f'invalid resource version "{rv}"')
        cur = self.api.store.rv
        if n > cur:
            raise ApiError(504, "Timeout", f"Too large resource version: {n}, current: {cur}",
                           mk_details(causes=[{"reason": "ResourceVersionTooLarge",
                                               "message": "Too large resource version"}], retry=1))

    def selectors(self, req, rt):
        try:
            lsel = parse_label_selector(req.q("labelSelector", ""))
            fsel = parse_field_selector(req.q("fieldSelector", ""), rt)
        except SelectorError as e:
            raise err_bad_request(str(e))
        return lsel, fsel

    def list(self, req, rt, vi, ns):
        api = self.api
        lsel, fsel = self.selectors(req, rt)
        try:
            limit = int(req.q("limit") or 0)
        except ValueError:
            raise err_bad_request(f"invalid limit: {req.q('limit')}")
        cont = req.q("continue")
        rvq = req.q("resourceVersion")
        rvm = req.q("resourceVersionMatch")
        cur = api.store.rv
        start = None
        if cont:
            if rvq:
                raise err_bad_request("specifying resource version is not allowed when using continue")
            at, start = parse_continue(cont)
        else:
            if rvm and not rvq:
                raise err_bad_request("resourceVersionMatch is forbidden unless resourceVersion is provided")
            if rvm not in (None, "", "Exact", "NotOlderThan"):
                raise err_bad_request(f'resourceVersionMatch: Unsupported value: "{rvm}": supported values: '
                                      '"Exact", "NotOlderThan"')
            at = cur
            if rvq not in (None, ""):
                try:
                    n = int(rvq)
                except ValueError:
                    raise err_bad_request(f'invalid resource version "{rvq}"')
                if n > cur:
                    self.check_rv_param(req)
                if rvm == "Exact":
                    at = n
                if rvq == "0" and rvm != "Exact":
                    limit = 0
        page = []
        remaining = 0
        last_key = None
        for key, obj in api.store.snapshot(rt.gr, at):
            if ns is not None and key[0] != ns:
                continue
            ks = Store.keystr(key)
            if start is not None and ks < start:
                continue
            if not labels_match(lsel, obj["metadata"].get("labels")) or not fields_match(fsel, rt, obj):
                continue
            if limit and len(page) >= limit:
                remaining += 1
                continue
            page.append(obj)
            last_key = ks
        meta = {"resourceVersion": str(at)}
        if limit and remaining:
            meta["continue"] = continue_token(at, last_key + "\x00")
            if not lsel and not fsel:
                meta["remainingItemCount"] = remaining
        return {"kind": rt.list_kind, "apiVersion": rt.gv(vi.name), "metadata": meta,
                "items": [api.present(rt, vi, o, in_list=True) for o in page]}

    def watch(self, req, rt, vi, ns, name):
        api = self.api
        lsel, fsel = self.selectors(req, rt)
        try:
            timeout = int(req.q("timeoutSeconds") or 1800)
        except ValueError:
            raise err_bad_request(f"invalid timeoutSeconds: {req.q('timeoutSeconds')}")

        def matches(obj):
            m = obj["metadata"]
            if ns is not None and m.get("namespace", "") != ns:
                return False
            if name is not None and m.get("name") != name:
                return False
            return labels_match(lsel, m.get("labels")) and fields_match(fsel, rt, obj)
        rvq = req.q("resourceVersion")
        if rvq in (None, "", "0"):
            initial = [("ADDED", o) for _, o in api.store.snapshot(rt.gr, api.store.rv) if matches(o)]
            since = api.store.rv
        else:
            try:
                since = int(rvq)
            except ValueError:
                raise err_bad_request(f'invalid resource version "{rvq}"')
            since = min(since, api.store.rv)
            initial = []
        return WatchResponse(rt, vi, initial, since, matches, timeout)

    def watch_events(self, w, since):
        import bisect
        with self.api.lock:
            i = bisect.bisect_right(self.api.store.event_rvs, since)
            evs = self.api.store.events[i:]
            last = self.api.store.rv
        out = []
        for _, gr, _, etype, obj, prev in evs:
            if gr != w.rt.gr:
                continue
            now_m = etype != "DELETED" and w.matches(obj)
            was_m = prev is not None and w.matches(prev)
            if etype == "ADDED" and now_m:
                out.append(("ADDED", obj))
            elif etype == "MODIFIED":
                if now_m and was_m:
                    out.append(("MODIFIED", obj))
                elif now_m:
                    out.append(("ADDED", obj))
                elif was_m:
                    out.append(("DELETED", obj))
            elif etype == "DELETED" and was_m:
                out.append(("DELETED", obj))
        return out, last

    def delete_options(self, req):
        opts = {}
        if req.body and req.body.strip():
            try:
                body = json.loads(req.body)
            except ValueError as e:
                raise err_bad_request(f"couldn't get version/kind; json parse error: {json_error(e)}")
            if not isinstance(body, dict):
                raise err_bad_request("json: cannot unmarshal into Go value of type v1.DeleteOptions")
            for k in ("propagationPolicy", "orphanDependents", "preconditions", "gracePeriodSeconds"):
                if body.get(k) is not None:
                    opts[k] = body[k]
            if body.get("dryRun"):
                opts["dryRun"] = self.dry_run(req, body["dryRun"])
        if req.q("propagationPolicy") is not None:
            opts["propagationPolicy"] = req.q("propagationPolicy")
        if req.q("orphanDependents") is not None:
            opts["orphanDependents"] = req.q("orphanDependents") in ("true", "1")
        if opts.get("propagationPolicy") is not None:
            req.log["propagationPolicy"] = opts["propagationPolicy"]
        if opts.get("dryRun"):
            req.log["dryRun"] = "All"
        return opts

    def delete_collection(self, req, rt, vi, ns, dry_run):
        api = self.api
        lsel, fsel = self.selectors(req, rt)
        opts = self.delete_options(req)
        items = []
        for key, obj in list(api.store.snapshot(rt.gr, api.store.rv)):
            if ns is not None and key[0] != ns:
                continue
            if not labels_match(lsel, obj["metadata"].get("labels")) or not fields_match(fsel, rt, obj):
                continue
            try:
                res = api.delete(rt, ns, key[1], opts, dry_run or opts.get("dryRun"))
            except ApiError as e:
                if e.code == 404:
                    continue
                raise
            items.append(res.obj if res.obj.get("kind") != "Status" else api.present(rt, vi, obj, in_list=True))
        return {"kind": rt.list_kind, "apiVersion": rt.gv(vi.name),
                "metadata": {"resourceVersion": str(api.store.rv)},
                "items": [api.present(rt, vi, o, in_list=True) for o in items]}

    def scale_update(self, req, rt, vi, ns, name, scale, manager, dry_run):
        api = self.api
        old = api.store.get(rt.gr, (ns or "", name))
        if old is None:
            raise err_not_found(rt, name)
        if not isinstance(scale, dict):
            raise err_bad_request("json: cannot unmarshal into Go value of type autoscaling.Scale")
        sm = scale.get("metadata") or {}
        if sm.get("name") and sm["name"] != name:
            raise err_bad_request(f"the name of the object ({sm['name']}) does not match the name on the URL ({name})")
        if sm.get("resourceVersion") and sm["resourceVersion"] != old["metadata"]["resourceVersion"]:
            raise err_conflict(rt, name)
        replicas = (scale.get("spec") or {}).get("replicas", 0)
        if json_type(replicas) != "integer" or replicas < 0:
            raise ApiError(422, "Invalid", f'Scale.autoscaling "{name}" is invalid: spec.replicas: Invalid value: '
                           f"{go_value(replicas)}: must be greater than or equal to 0",
                           mk_details(name, "autoscaling", "Scale", [{
                               "reason": "FieldValueInvalid", "field": "spec.replicas",
                               "message": f"Invalid value: {go_value(replicas)}: must be greater than or equal to 0"}]))
        new = api.present(rt, vi, clone(old))
        set_in(new, parse_jsonpath((vi.scale or {}).get("specReplicasPath", ".spec.replicas")), replicas)
        res = api.update(rt, vi, ns, name, new, "scale", manager, dry_run, is_patch=True)
        return api.scale_view(rt, vi, res)

    def patch(self, req, rt, vi, ns, name, sub, manager, dry_run):
        api = self.api
        ct = req.content_type
        types = ["application/json-patch+json", "application/merge-patch+json"]
        if rt.builtin:
            types.append("application/strategic-merge-patch+json")
        types.append("application/apply-patch+yaml")
        if ct not in types:
            raise err_unsupported_media(types)
        if ct == "application/apply-patch+yaml":
            return self.apply(req, rt, vi, ns, name, sub, dry_run)
        if req.q("force") is not None:
            raise err_bad_request("force is not allowed for patch types other than apply")
        old = api.store.get(rt.gr, (ns or "", name))
        if old is None:
            raise err_not_found(rt, name)
        view = api.scale_view(rt, vi, old) if sub == "scale" else api.present(rt, vi, old)
        try:
            patch = json.loads(req.body or b"")
        except ValueError as e:
            raise err_bad_request(f"error decoding patch: {json_error(e)}")
        if ct == "application/json-patch+json":
            try:
                check_json_patch(patch)
            except ValueError as e:
                raise err_bad_request(str(e))
            try:
                patched = json_patch(view, patch)
            except (JsonPatchError, KeyError, IndexError, TypeError, ValueError) as e:
                raise err_unprocessable(str(e))
        elif not isinstance(patch, dict):
            raise err_bad_request(f"json: cannot unmarshal {JSON_NAMES[json_type(patch)]} into Go value of type "
                                  "map[string]interface {}")
        elif ct == "application/merge-patch+json":
            patched = merge_patch(view, patch)
        else:
            patched = strategic_merge_patch(view, patch)
        if sub == "scale":
            return Response(200, self.scale_update(req, rt, vi, ns, name, patched, manager, dry_run))
        if not isinstance(patched, dict):
            raise err_bad_request("json: cannot unmarshal into Go value of type map[string]interface {}")
        obj = api.decode(req, rt, vi, patched)
        return Response(200, api.present(rt, vi, api.update(rt, vi, ns, name, obj, sub, manager, dry_run,
                                                                is_patch=True)))

    def apply(self, req, rt, vi, ns, name, sub, dry_run):
        api = self.api
        manager = req.q("fieldManager")
        if not manager:
            raise err_bad_request("fieldManager is required for apply requests")
        force = req.q("force") in ("true", "1")
        if sub == "scale":
            raise err_unsupported_media(["application/json-patch+json", "application/merge-patch+json"])
        try:
            applied = yaml.load((req.body or b"").decode("utf-8"), Loader=_YAML_LOADER)
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            raise err_bad_request(f"error decoding YAML: {str(e).splitlines()[0]}")
        if not isinstance(applied, dict):
            raise err_bad_request("error decoding YAML: the apply configuration must be an object")
        if not applied.get("apiVersion") or not applied.get("kind"):
            g, _, v = str(applied.get("apiVersion") or "").rpartition("/")
            raise err_bad_request(f"invalid object type: {g}/{v}, Kind={applied.get('kind') or ''}")
        if isinstance(applied.get("metadata"), dict) and applied["metadata"].get("managedFields") is not None:
            raise err_bad_request("metadata.managedFields must be nil")
        applied = api.decode(req, rt, vi, applied, defaults=False)
        am = applied.setdefault("metadata", {})
        if am.get("name", "") != name:
            raise err_bad_request(f"the name of the object ({am.get('name', '')}) does not match the name on the URL "
                                  f"({name})")
        if rt.namespaced:
            if am.get("namespace") and am["namespace"] != ns:
                raise err_bad_request("the namespace of the provided object does not match the namespace sent on "
                                      "the request")
        part = "status" if sub == "status" else ("main" if vi.status else "all")
        if part == "main":
            applied.pop("status", None)
        elif part == "status":
            applied = {k: v for k, v in applied.items() if k in ("apiVersion", "kind", "metadata", "status")}
        fa = field_set(applied, vi.schema, part)
        gv = rt.gv(vi.name)
        old = api.store.get(rt.gr, (ns or "", name))
        if old is None:
            if sub:
                raise err_not_found(rt, name)
            entry = ManagedEntry(manager, "Apply", gv, now_str(), "", fa)
            obj = clone(applied)
            if rt.namespaced:
                obj["metadata"]["namespace"] = ns
            res = api.create(rt, vi, ns, obj, manager, dry_run, managed_override=[entry.to_json()] if fa else [])
            return Response(201, api.present(rt, vi, res))
        live = clone(api.present(rt, vi, old))
        entries = parse_managed(old["metadata"].get("managedFields"))
        ident = (manager, "Apply", sub or "")
        mine = next((e for e in entries if e.ident() == ident), None)
        prev = set(mine.fields) if mine else set()
        conflicts = []
        for e in entries:
            if e is mine:
                continue
            for p in sorted(fa & e.fields):
                if value_at_path(live, p) != value_at_path(applied, p):
                    conflicts.append((e, p))
        if conflicts and not force:
            raise apply_conflict_error(conflicts)
        for e, p in conflicts:
            e.fields = e.fields - {p}
        others = set()
        for e in entries:
            if e is not mine:
                others |= e.fields
        merged = clone(live)
        for p in sorted(prev - fa, key=len, reverse=True):
            if p in others:
                continue
            if remove_at_path(merged, p):
                for i in range(len(p) - 1, 0, -1):
                    pp = p[:i]
                    if pp == ("f:metadata",):
                        break
                    v = value_at_path(merged, pp)
                    if v in ({}, []) and value_at_path(applied, pp) is _MISSING and not any(
                            o[:i] == pp for o in others):
                        remove_at_path(merged, pp)
                    else:
                        break
        merged = apply_merge(merged, applied, vi.schema)
        merged["metadata"]["resourceVersion"] = am.get("resourceVersion") or old["metadata"]["resourceVersion"]
        merged["metadata"]["uid"] = old["metadata"]["uid"]
        if mine is not None and mine.fields == fa and not conflicts:
            cmp_a = {k: v for k, v in merged.items() if k != "metadata"}
            cmp_b = {k: v for k, v in live.items() if k != "metadata"}
            ma = {k: v for k, v in merged["metadata"].items() if k != "managedFields"}
            mb = {k: v for k, v in live["metadata"].items() if k != "managedFields"}
            if cmp_a == cmp_b and ma == mb:
                return Response(200, api.present(rt, vi, old))
        if mine is None:
            mine = ManagedEntry(manager, "Apply", gv, now_str(), sub or "", set())
            entries.append(mine)
        mine.fields = set(fa)
        mine.orig = None
        mine.api_version = gv
        mine.time = now_str()
        mf = [e.to_json() for e in entries if e.fields]
        obj = api.decode(None, rt, vi, merged)
        res = api.update(rt, vi, ns, name, obj, sub, manager, dry_run, is_patch=True, managed_override=mf)
        return Response(200, api.present(rt, vi, res))


# ----------------------------------------------------------------------------
# HTTPS server
# ----------------------------------------------------------------------------

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        self.server.log("http: " + (fmt % args))

    def send_response(self, code, message=None):
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())

    def do_GET(self):
        self.serve("GET")

    def do_POST(self):
        self.serve("POST")

    def do_PUT(self):
        self.serve("PUT")

    def do_PATCH(self):
        self.serve("PATCH")

    def do_DELETE(self):
        self.serve("DELETE")

    def do_HEAD(self):
        self.serve("HEAD")

    def do_OPTIONS(self):
        self.serve("OPTIONS")

    def read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            out = b""
            while True:
                line = self.rfile.readline(65537)
                n = int(line.split(b";")[0].strip() or b"0", 16)
                if n == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(n)
                self.rfile.readline(65537)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def authenticate(self):
        try:
            cert = self.connection.getpeercert()
        except (ValueError, AttributeError):
            cert = None
        if cert:
            subject = dict(x[0] for x in cert.get("subject", ()))
            return subject.get("commonName", "")
        auth = self.headers.get("Authorization") or ""
        if auth.startswith("Bearer ") and auth[7:].strip() in self.server.tokens:
            return self.server.tokens[auth[7:].strip()]
        return None

    def negotiate(self):
        accept = self.headers.get("Accept") or ""
        if not accept.strip():
            return "json"
        for part in accept.split(","):
            mt = part.split(";")[0].strip().lower()
            if mt in ("application/json", "*/*", "application/*", "application/json-patch+json",
                      "application/merge-patch+json"):
                return "json"
            if mt == "application/yaml":
                return "yaml"
        return None

    def serve(self, method):
        started = time.monotonic()
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        body = self.read_body()
        user = self.authenticate()
        req = Request(method, urllib.parse.unquote(url.path), query, self.headers, body, user)
        fmt = "json"
        try:
            if user is None:
                raise err_unauthorized()
            if url.path.startswith("/api"):
                fmt = self.negotiate()
                if fmt is None:
                    fmt = "json"
                    raise err_not_acceptable()
            if method in ("HEAD", "OPTIONS") and url.path.startswith("/api"):
                raise err_method_not_allowed()
            resp = self.server.dispatcher.handle(req)
        except ApiError as e:
            resp = Response(e.code, text=e.plain, content_type="text/plain; charset=utf-8",
                            headers=e.headers) if e.plain is not None else Response(e.code, e.status())
        except Exception:  # a bug in the stand-in: say so in its log and answer 500
            self.server.log("error: " + traceback.format_exc())
            resp = Response(500, err_internal("stand-in failure (see standin.log)").status())
        if not isinstance(resp, WatchResponse) and resp.code >= 400 and isinstance(resp.obj, dict):
            req.log["reason"] = resp.obj.get("reason", "")
            req.log["message"] = resp.obj.get("message", "")
        # logged before the answer goes out, so a client that got its answer
        # finds its request in the log
        self.server.log_request(req, 200 if isinstance(resp, WatchResponse) else resp.code,
                                time.monotonic() - started)
        try:
            if isinstance(resp, WatchResponse):
                self.stream_watch(req, resp)
            else:
                self.write(req, resp, fmt)
        except (OSError, ssl.SSLError):
            self.close_connection = True

    def common_headers(self, req):
        self.send_header("Audit-Id", str(uuid.uuid4()))
        self.send_header("Cache-Control", "no-cache, private")
        for w in req.warnings:
            w = w.encode("ascii", "backslashreplace").decode()
            self.send_header("Warning", '299 - "' + w.replace("\\", "\\\\").replace('"', '\\"') + '"')

    def write(self, req, resp, fmt):
        if resp.text is not None:
            data = resp.text.encode()
            ctype = resp.content_type or "text/plain; charset=utf-8"
        elif fmt == "yaml":
            data = yaml.safe_dump(resp.obj, sort_keys=False).encode()
            ctype = "application/yaml"
        else:
            pretty = req.q("pretty") in ("true", "1")
            data = (json.dumps(resp.obj, indent=2 if pretty else None,
                               separators=None if pretty else (",", ":"), ensure_ascii=False) + "\n").encode()
            ctype = "application/json"
        self.send_response(resp.code)
        self.common_headers(req)
        for k, v in resp.headers:
            self.send_header(k, v)
        self.send_header("Content-Type", ctype)
        if resp.text is not None:
            self.send_header("X-Content-Type-Options", "nosniff")
        if resp.obj is not None and resp.text is None:
            self.send_header("X-Kubernetes-Pf-Flowschema-Uid", self.server.pf_uids[0])
            self.send_header("X-Kubernetes-Pf-Prioritylevel-Uid", self.server.pf_uids[1])
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if req.method != "HEAD":
            self.wfile.write(data)
        self.wfile.flush()

    def stream_watch(self, req, w):
        api = self.server.api
        self.send_response(200)
        self.common_headers(req)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def send(etype, obj):
            data = (json.dumps({"type": etype, "object": api.present(w.rt, w.vi, obj)},
                               separators=(",", ":")) + "\n").encode()
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
        for etype, obj in w.initial:
            send(etype, obj)
        deadline = time.monotonic() + w.timeout
        since = w.since
        while not api.stopping:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            with api.store.cond:
                if api.store.rv <= since and not api.stopping:
                    api.store.cond.wait(min(left, 1.0))
            evs, since = self.server.dispatcher.watch_events(w, since)
            for etype, obj in evs:
                send(etype, obj)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, api, ssl_ctx, tokens, state_dir):
        self.api = api
        self.dispatcher = Dispatcher(api)
        self.ssl_ctx = ssl_ctx
        self.tokens = tokens
        self.pf_uids = (str(uuid.uuid4()), str(uuid.uuid4()))
        self.log_lock = threading.Lock()
        self.log_file = open(os.path.join(state_dir, "standin.log"), "a", buffering=1)
        self.req_file = open(os.path.join(state_dir, "requests.log"), "a", buffering=1)
        super().__init__(addr, Handler)

    def server_bind(self):
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = host
        self.server_port = port

    def finish_request(self, request, client_address):
        request.settimeout(30)
        try:
            tls = self.ssl_ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            self.log(f"tls handshake from {client_address[0]}:{client_address[1]} failed: {e}")
            return
        try:
            tls.settimeout(300)
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        self.log("error: " + traceback.format_exc())

    def log(self, line):
        with self.log_lock:
            self.log_file.write(f"{now_str()} {line}\n")

    def log_request(self, req, code, elapsed):
        rec = {"time": now_str(), "method": req.method, "path": req.path,
               "query": urllib.parse.urlencode(req.query, doseq=True), "status": code, "user": req.user,
               "userAgent": req.header("User-Agent"), "contentType": req.content_type,
               "ms": round(elapsed * 1000, 1)}
        rec.update(req.log)
        with self.log_lock:
            self.req_file.write(json.dumps(rec) + "\n")


# ----------------------------------------------------------------------------
# Start-up: PKI, CRDs, kubeconfig
# ----------------------------------------------------------------------------

def make_pki(d):
    """A CA, a serving certificate for 127.0.0.1 and an admin client
    certificate (O=system:masters), all with P-256 keys, made by openssl."""
    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    p = {n: os.path.join(d, n) for n in ("ca.crt", "ca.key", "server.crt", "server.key", "client.crt", "client.key")}
    run("req", "-x509", *ec, "-keyout", p["ca.key"], "-out", p["ca.crt"], "-days", "3650",
        "-subj", "/CN=kubernetes", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature")
    run("req", "-x509", *ec, "-keyout", p["server.key"], "-out", p["server.crt"], "-days", "365",
        "-subj", "/CN=kube-apiserver", "-CA", p["ca.crt"], "-CAkey", p["ca.key"],
        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,"
                   "DNS:kubernetes.default.svc",
        "-addext", "basicConstraints=critical,CA:FALSE",
        "-addext", "keyUsage=critical,digitalSignature,keyEncipherment", "-addext", "extendedKeyUsage=serverAuth")
    run("req", "-x509", *ec, "-keyout", p["client.key"], "-out", p["client.crt"], "-days", "365",
        "-subj", "/O=system:masters/CN=kubernetes-admin", "-CA", p["ca.crt"], "-CAkey", p["ca.key"],
        "-addext", "basicConstraints=critical,CA:FALSE",
        "-addext", "keyUsage=critical,digitalSignature,keyEncipherment", "-addext", "extendedKeyUsage=clientAuth")
    return p


def load_crds(api, directory, labels):
    rt = api.types[CRD_GR]
    vi = rt.versions["v1"]
    files = []
    for root, _, names in os.walk(directory):
        files += [os.path.join(root, n) for n in names if n.endswith((".yaml", ".yml", ".json"))]
    count = 0
    for f in sorted(files):
        with open(f) as fh:
            if f.endswith(".json"):
                docs = json.load(fh)
                if isinstance(docs, dict):
                    docs = docs.get("items") if docs.get("kind", "").endswith("List") else [docs]
            else:
                docs = list(yaml.load_all(fh, Loader=_YAML_LOADER))
        for doc in docs:
            if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                continue
            if doc.get("apiVersion") != "apiextensions.k8s.io/v1":
                continue
            doc = dict(doc)
            meta = dict(doc.get("metadata") or {})
            if labels:
                meta["labels"] = dict(meta.get("labels") or {}, **labels)
            doc["metadata"] = meta
            doc.pop("status", None)
            with api.lock:
                obj = api.decode(None, rt, vi, doc)
                created = api.create(rt, vi, None, obj, "kubectl-create", False)
                api.crd_ready[created["metadata"]["name"]] = 0
            count += 1
    return count


def write_atomic(path, data):
    d = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(d, f".{os.path.basename(path)}.tmp{os.getpid()}")
    with open(tmp, "w") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def kubeconfig(name, url, pki, auth, token):
    b64 = lambda p: base64.b64encode(open(p, "rb").read()).decode()
    user = {"token": token} if auth == "token" else {
        "client-certificate-data": b64(pki["client.crt"]), "client-key-data": b64(pki["client.key"])}
    return {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": name, "cluster": {"server": url, "certificate-authority-data": b64(pki["ca.crt"])}}],
        "users": [{"name": f"{name}-admin", "user": user}],
        "contexts": [{"name": f"{name}-admin@{name}", "context": {"cluster": name, "user": f"{name}-admin"}}],
        "current-context": f"{name}-admin@{name}",
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description="Stand-in Kubernetes API server for tests")
    ap.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT (port 0 picks one)")
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--kubeconfig-out", required=True)
    ap.add_argument("--auth", choices=("cert", "token"), default="cert", help="what the kubeconfig's user carries")
    ap.add_argument("--crds", action="append", default=[], help="directory of CRD YAML files (repeatable)")
    ap.add_argument("--crd-label", action="append", default=[], help="KEY=VALUE added to every --crds CRD")
    ap.add_argument("--name", default="kubernetes", help="cluster name in the kubeconfig")
    ap.add_argument("--serve-delay", type=float, default=0.0,
                    help="seconds a CRD created over the API answers 404 after it is Established")
    args = ap.parse_args(argv)
    os.umask(0o077)
    host, _, port = args.listen.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    state = os.path.abspath(args.state_dir)
    os.makedirs(state, exist_ok=True)
    pki = make_pki(state)
    token = base64.urlsafe_b64encode(os.urandom(24)).decode().rstrip("=")
    write_atomic(os.path.join(state, "token"), token + "\n")
    labels = {}
    for kv in args.crd_label:
        k, _, v = kv.partition("=")
        labels[k] = v
    api = Api(serve_delay=args.serve_delay)
    for d in args.crds:
        if not os.path.isdir(d):
            print(f"kube_standin: --crds {d}: not a directory", file=sys.stderr)
            return 1
        load_crds(api, d, labels)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(pki["server.crt"], pki["server.key"])
    ctx.load_verify_locations(pki["ca.crt"])
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.set_alpn_protocols(["http/1.1"])
    srv = Server((host, int(port or 0)), api, ctx, {token: "system:admin-token"}, state)
    url = f"https://{host}:{srv.server_port}"
    api.server_address = f"{host}:{srv.server_port}"
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    write_atomic(args.kubeconfig_out, yaml.safe_dump(kubeconfig(args.name, url, pki, args.auth, token),
                                                     sort_keys=False))
    srv.log(f"listening on {url}, pid {os.getpid()}")
    print(f"kube_standin: listening on {url}", flush=True)
    while not stop.wait(0.5):
        pass
    api.stopping = True
    with api.store.cond:
        api.store.cond.notify_all()
    srv.shutdown()
    srv.server_close()
    srv.log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
