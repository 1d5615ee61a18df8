"""The stand-in Kubernetes API server (kube_standin.py) answers as
../shared/docs/kube-api-behaviour.md says a real kube-apiserver does, with the
real Cluster API and k0smotron CRDs installed. Most tests share one server
(each in a namespace of its own); those that need a server of their own (auth
modes, CRD serving delay, the fixture contract) start one."""
import base64
import http.client
import json
import os
import socket
import ssl
import subprocess
import threading
import time
import uuid

import pytest
import yaml

from kube import CLUSTERCTL_LABEL, KubeStandin, kube_pair, kube_standin  # noqa: F401 (fixtures)

CLUSTERS = "/apis/cluster.x-k8s.io/v1beta1/namespaces/{ns}/clusters"
MACHINES = "/apis/cluster.x-k8s.io/v1beta1/namespaces/{ns}/machines"
CMS = "/api/v1/namespaces/{ns}/configmaps"
SECRETS = "/api/v1/namespaces/{ns}/secrets"
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
MERGE = {"Content-Type": "application/merge-patch+json"}
JSONPATCH = {"Content-Type": "application/json-patch+json"}
APPLY = {"Content-Type": "application/apply-patch+yaml"}


@pytest.fixture(scope="module")
def kube():
    with KubeStandin(crd_labels={CLUSTERCTL_LABEL: ""}) as k:
        yield k


@pytest.fixture
def ns(kube):
    name = "t-" + uuid.uuid4().hex[:10]
    kube.ensure_namespace(name)
    return name


def cluster(name, ns, spec=None, **meta):
    return {"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Cluster",
            "metadata": dict(name=name, namespace=ns, **meta), "spec": spec if spec is not None else {}}


def configmap(name, data=None, **meta):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": dict(name=name, **meta),
            "data": data if data is not None else {"k": "v"}}


def create(kube, path, obj, **kw):
    status, body = kube.request("POST", path, obj, **kw)
    assert status == 201, (status, body)
    return body


def assert_status(body, code, reason):
    assert isinstance(body, dict) and body["kind"] == "Status", body
    assert body["apiVersion"] == "v1" and body["status"] == "Failure" and body["metadata"] == {}
    assert body["code"] == code and body.get("reason") == reason, body


# --- create ------------------------------------------------------------------

def test_create_with_resource_version_is_500(kube, ns):
    obj = configmap("rv")
    obj["metadata"]["resourceVersion"] = "12"
    status, body = kube.request("POST", CMS.format(ns=ns), obj)
    assert status == 500
    assert_status(body, 500, "InternalError")
    assert body["message"] == "Internal error occurred: resourceVersion should not be set on objects to be created"
    c = cluster("rv", ns)
    c["metadata"]["resourceVersion"] = "5"
    status, body = kube.request("POST", CLUSTERS.format(ns=ns), c)
    assert status == 500 and "resourceVersion should not be set" in body["message"]
    assert kube.request("GET", CLUSTERS.format(ns=ns) + "/rv")[0] == 404


def test_create_replaces_uid_timestamp_generation(kube, ns):
    c = cluster("c1", ns)
    c["metadata"].update(uid="11111111-2222-3333-4444-555555555555", creationTimestamp="2001-01-01T00:00:00Z",
                         generation=7, deletionTimestamp="2001-01-02T00:00:00Z")
    body = create(kube, CLUSTERS.format(ns=ns), c)
    m = body["metadata"]
    assert m["uid"] != c["metadata"]["uid"] and len(m["uid"]) == 36
    assert m["creationTimestamp"] != "2001-01-01T00:00:00Z"
    assert m["generation"] == 1
    assert "deletionTimestamp" not in m
    assert m["resourceVersion"].isdigit()
    assert body["apiVersion"] == "cluster.x-k8s.io/v1beta1" and body["kind"] == "Cluster"


def test_duplicate_create_is_409_already_exists_with_plural_kind(kube, ns):
    create(kube, CLUSTERS.format(ns=ns), cluster("dup", ns))
    status, body = kube.request("POST", CLUSTERS.format(ns=ns), cluster("dup", ns))
    assert status == 409
    assert_status(body, 409, "AlreadyExists")
    assert body["message"] == 'clusters.cluster.x-k8s.io "dup" already exists'
    assert body["details"] == {"name": "dup", "group": "cluster.x-k8s.io", "kind": "clusters"}
    create(kube, CMS.format(ns=ns), configmap("dup"))
    status, body = kube.request("POST", CMS.format(ns=ns), configmap("dup"))
    assert status == 409 and body["message"] == 'configmaps "dup" already exists'
    assert body["details"] == {"name": "dup", "kind": "configmaps"}


def test_dry_run_create_stores_nothing(kube, ns):
    status, body = kube.request("POST", CLUSTERS.format(ns=ns) + "?dryRun=All", cluster("dry", ns))
    assert status == 201
    assert body["metadata"]["uid"] and "resourceVersion" not in body["metadata"]
    assert kube.request("GET", CLUSTERS.format(ns=ns) + "/dry")[0] == 404
    status, body = kube.request("POST", CLUSTERS.format(ns=ns) + "?dryRun=Bogus", cluster("dry", ns))
    assert status == 400
    assert [r.get("dryRun") for r in kube.requests() if r["path"].endswith("/clusters")
            and "dryRun=All" in r["query"]][-1] == "All"


def test_unknown_fields_pruned_silently_with_a_warning(kube, ns):
    c = cluster("prune", ns, {"paused": True, "bogus": 1, "clusterNetwork": {"typo": "x"}})
    c["metadata"]["madeUp"] = "y"
    body = create(kube, CLUSTERS.format(ns=ns), c)
    assert body["spec"] == {"paused": True, "clusterNetwork": {}}
    assert "madeUp" not in body["metadata"]
    warnings = kube.last_headers.get_all("Warning")
    assert '299 - "unknown field \\"spec.bogus\\""' in warnings
    assert any("spec.clusterNetwork.typo" in w for w in warnings)
    status, body = kube.request("GET", CLUSTERS.format(ns=ns) + "/prune")
    assert body["spec"] == {"paused": True, "clusterNetwork": {}}


def test_strict_field_validation_is_400(kube, ns):
    path = CLUSTERS.format(ns=ns) + "?fieldValidation=Strict"
    status, body = kube.request("POST", path, cluster("strict", ns, {"paused": True, "bogus": 1}))
    assert status == 400
    assert_status(body, 400, "BadRequest")
    assert body["message"] == 'strict decoding error: unknown field "spec.bogus"'
    status, body = kube.request("POST", CMS.format(ns=ns) + "?fieldValidation=Strict",
                                dict(configmap("strict"), extra=1))
    assert status == 400 and body["message"] == 'strict decoding error: unknown field "extra"'
    assert kube.request("POST", path, cluster("strict", ns, {"paused": True}))[0] == 201


def test_wrong_type_is_422(kube, ns):
    status, body = kube.request("POST", CLUSTERS.format(ns=ns), cluster("typed", ns, {"paused": "yes"}))
    assert status == 422
    assert_status(body, 422, "Invalid")
    assert body["message"] == ('Cluster.cluster.x-k8s.io "typed" is invalid: spec.paused: Invalid value: "string": '
                               'spec.paused in body must be of type boolean: "string"')
    assert body["details"]["kind"] == "Cluster" and body["details"]["group"] == "cluster.x-k8s.io"
    assert body["details"]["causes"] == [{"reason": "FieldValueInvalid", "field": "spec.paused",
                                          "message": 'Invalid value: "string": spec.paused in body must be of type '
                                                     'boolean: "string"'}]


def test_managed_fields_in_post_ignored_manager_from_user_agent(kube, ns):
    c = cluster("mf", ns, {"paused": True})
    c["metadata"]["managedFields"] = [{"manager": "someone-else", "operation": "Apply", "apiVersion": "v1",
                                       "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}]
    body = create(kube, CLUSTERS.format(ns=ns), c, headers={"User-Agent": "strata-agent/0.1 (linux)"})
    mf = body["metadata"]["managedFields"]
    assert [(e["manager"], e["operation"]) for e in mf] == [("strata-agent", "Update")]
    assert mf[0]["fieldsV1"]["f:spec"] == {"f:paused": {}}
    body = create(kube, CLUSTERS.format(ns=ns), cluster("mf2", ns), headers={"User-Agent": ""})
    assert body["metadata"]["managedFields"][0]["manager"] == "unknown"
    # a later patch of metadata.managedFields restores them as sent
    status, body = kube.request("PATCH", CLUSTERS.format(ns=ns) + "/mf",
                                {"metadata": {"managedFields": c["metadata"]["managedFields"]}}, headers=MERGE)
    assert status == 200
    assert body["metadata"]["managedFields"] == c["metadata"]["managedFields"]
    assert kube.request("GET", CLUSTERS.format(ns=ns) + "/mf")[1]["metadata"]["managedFields"] == \
        c["metadata"]["managedFields"]


def test_generate_name(kube, ns):
    c = cluster("", ns)
    del c["metadata"]["name"]
    c["metadata"]["generateName"] = "gen-"
    body = create(kube, CLUSTERS.format(ns=ns), c)
    name = body["metadata"]["name"]
    assert name.startswith("gen-") and len(name) == 9 and body["metadata"]["generateName"] == "gen-"
    assert kube.request("GET", CLUSTERS.format(ns=ns) + "/" + name)[0] == 200
    status, body = kube.request("POST", CLUSTERS.format(ns=ns), {"apiVersion": "cluster.x-k8s.io/v1beta1",
                                                                 "kind": "Cluster", "metadata": {}})
    assert status == 422 and "metadata.name: Required value: name or generateName is required" in body["message"]


def test_invalid_name_is_422(kube, ns):
    status, body = kube.request("POST", CMS.format(ns=ns), configmap("Bad_Name"))
    assert status == 422
    assert body["message"].startswith('ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": '
                                      "a lowercase RFC 1123 subdomain")


def test_namespace_must_exist(kube):
    status, body = kube.request("POST", CLUSTERS.format(ns="nowhere"), cluster("c", "nowhere"))
    assert status == 404
    assert_status(body, 404, "NotFound")
    assert body["message"] == 'namespaces "nowhere" not found'
    assert body["details"] == {"name": "nowhere", "kind": "namespaces"}
    status, body = kube.request("POST", CLUSTERS.format(ns="other"), cluster("c", "nowhere"))
    assert status == 400 and "does not match the namespace sent on the request" in body["message"]


# --- update ------------------------------------------------------------------

def test_put_custom_resource_needs_resource_version(kube, ns):
    body = create(kube, CLUSTERS.format(ns=ns), cluster("put", ns, {"paused": True}))
    del body["metadata"]["resourceVersion"]
    status, err = kube.request("PUT", CLUSTERS.format(ns=ns) + "/put", body)
    assert status == 422
    assert_status(err, 422, "Invalid")
    assert err["message"] == ('Cluster.cluster.x-k8s.io "put" is invalid: metadata.resourceVersion: Invalid value: '
                              "0x0: must be specified for an update")
    assert err["details"]["causes"] == [{"reason": "FieldValueInvalid", "field": "metadata.resourceVersion",
                                         "message": "Invalid value: 0x0: must be specified for an update"}]


def test_put_configmap_and_secret_unconditionally(kube, ns):
    create(kube, CMS.format(ns=ns), configmap("u"))
    status, body = kube.request("PUT", CMS.format(ns=ns) + "/u", configmap("u", {"k": "w"}))
    assert status == 200 and body["data"] == {"k": "w"}
    create(kube, SECRETS.format(ns=ns), {"metadata": {"name": "s"}, "data": {"a": "Yg=="}})
    status, body = kube.request("PUT", SECRETS.format(ns=ns) + "/s", {"metadata": {"name": "s"},
                                                                       "data": {"a": "Yw=="}})
    assert status == 200 and body["data"] == {"a": "Yw=="} and body["type"] == "Opaque"
    assert kube.request("PUT", CMS.format(ns=ns) + "/missing", configmap("missing"))[0] == 404


def test_stale_resource_version_is_409(kube, ns):
    first = create(kube, CLUSTERS.format(ns=ns), cluster("c1", ns, {"paused": True}))
    second = dict(first, spec={"paused": False})
    assert kube.request("PUT", CLUSTERS.format(ns=ns) + "/c1", second)[0] == 200
    status, body = kube.request("PUT", CLUSTERS.format(ns=ns) + "/c1", dict(first, spec={}))
    assert status == 409
    assert_status(body, 409, "Conflict")
    assert body["message"] == ('Operation cannot be fulfilled on clusters.cluster.x-k8s.io "c1": the object has been '
                               "modified; please apply your changes to the latest version and try again")
    assert body["details"] == {"name": "c1", "group": "cluster.x-k8s.io", "kind": "clusters"}
    # a merge patch carrying a stale resourceVersion is refused the same way
    status, body = kube.request("PATCH", CLUSTERS.format(ns=ns) + "/c1",
                                {"metadata": {"resourceVersion": first["metadata"]["resourceVersion"]}}, headers=MERGE)
    assert status == 409 and body["reason"] == "Conflict"


def test_uid_mismatch_is_409(kube, ns):
    body = create(kube, CLUSTERS.format(ns=ns), cluster("u", ns))
    body["metadata"]["uid"] = str(uuid.uuid4())
    status, err = kube.request("PUT", CLUSTERS.format(ns=ns) + "/u", body)
    assert status == 409 and err["reason"] == "Conflict"
    assert "StorageError: invalid object" in err["message"]
    assert f"Precondition failed: UID in precondition: {body['metadata']['uid']}" in err["message"]


def test_merge_patch_null_removes_field(kube, ns):
    create(kube, CLUSTERS.format(ns=ns), cluster("p", ns, {"paused": True, "controlPlaneEndpoint": {
        "host": "10.0.0.1", "port": 6443}}))
    status, body = kube.request("PATCH", CLUSTERS.format(ns=ns) + "/p", {"spec": {"paused": None}}, headers=MERGE)
    assert status == 200
    assert "paused" not in body["spec"] and body["spec"]["controlPlaneEndpoint"]["port"] == 6443
    assert body["metadata"]["generation"] == 2


def test_generation_counts_spec_changes_only(kube, ns):
    body = create(kube, CLUSTERS.format(ns=ns), cluster("g", ns, {"paused": True}))
    assert body["metadata"]["generation"] == 1
    _, body = kube.request("PATCH", CLUSTERS.format(ns=ns) + "/g", {"metadata": {"labels": {"a": "b"}}},
                           headers=MERGE)
    assert body["metadata"]["generation"] == 1
    _, body = kube.request("PATCH", CLUSTERS.format(ns=ns) + "/g", {"spec": {"paused": False}}, headers=MERGE)
    assert body["metadata"]["generation"] == 2
    rv = body["metadata"]["resourceVersion"]
    status, body = kube.request("PUT", CLUSTERS.format(ns=ns) + "/g", body)
    assert status == 200 and body["metadata"]["resourceVersion"] == rv  # a no-op update writes nothing


def test_status_subresource(kube, ns):
    c = cluster("s", ns, {"paused": True})
    c["status"] = {"phase": "Provisioned"}
    body = create(kube, CLUSTERS.format(ns=ns), c)
    assert "phase" not in (body.get("status") or {})
    rv = body["metadata"]["resourceVersion"]
    # a patch of the main resource ignores status
    status, body = kube.request("PATCH", CLUSTERS.format(ns=ns) + "/s", {"status": {"phase": "Failed"}},
                                headers=MERGE)
    assert status == 200 and "phase" not in (body.get("status") or {}) and body["metadata"]["resourceVersion"] == rv
    # only /status writes it, and leaves spec alone
    status, body = kube.request("PATCH", CLUSTERS.format(ns=ns) + "/s/status",
                                {"spec": {"paused": False}, "status": {"phase": "Provisioned"}}, headers=MERGE)
    assert status == 200 and body["status"]["phase"] == "Provisioned" and body["spec"]["paused"] is True
    assert body["metadata"]["generation"] == 1
    status, body = kube.request("GET", CLUSTERS.format(ns=ns) + "/s/status")
    assert status == 200 and body["kind"] == "Cluster" and body["status"]["phase"] == "Provisioned"
    body["status"]["phase"] = "Deleting"
    status, body = kube.request("PUT", CLUSTERS.format(ns=ns) + "/s/status", body)
    assert status == 200 and body["status"]["phase"] == "Deleting"
    assert body["metadata"]["managedFields"][-1]["subresource"] == "status"
    # a PUT of the main resource keeps the stored status
    body["status"]["phase"] = "Failed"
    status, body = kube.request("PUT", CLUSTERS.format(ns=ns) + "/s", body)
    assert status == 200 and body["status"]["phase"] == "Deleting"


def test_status_defaults_of_k0s_control_plane(kube, ns):
    kcp = {"apiVersion": "controlplane.cluster.x-k8s.io/v1beta1", "kind": "K0sControlPlane",
           "metadata": {"name": "cp", "namespace": ns},
           "spec": {"version": "v1.30.1+k0s.0", "k0sConfigSpec": {"args": ["--enable-worker"]},
                    "machineTemplate": {"infrastructureRef": {"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1",
                                                              "kind": "RemoteMachineTemplate", "name": "t"}}},
           "status": {"ready": True}}
    body = create(kube, f"/apis/controlplane.cluster.x-k8s.io/v1beta1/namespaces/{ns}/k0scontrolplanes", kcp)
    assert body["status"]["initialized"] is False and body["status"]["ready"] is False
    assert body["spec"]["replicas"] == 1  # schema default


def test_status_stored_normally_without_status_subresource(kube):
    crd = small_crd("widgets", "Widget", subresources=False)
    create(kube, CRDS, crd)
    wait_served(kube, "/apis/example.strata.test/v1/namespaces/default/widgets")
    body = create(kube, "/apis/example.strata.test/v1/namespaces/default/widgets",
                  {"apiVersion": "example.strata.test/v1", "kind": "Widget", "metadata": {"name": "w"},
                   "spec": {"size": 1}, "status": {"ready": True}})
    assert body["status"] == {"ready": True}
    _, body = kube.request("PATCH", "/apis/example.strata.test/v1/namespaces/default/widgets/w",
                           {"status": {"ready": False}}, headers=MERGE)
    assert body["status"] == {"ready": False} and body["metadata"]["generation"] == 2
    assert kube.request("GET", "/apis/example.strata.test/v1/namespaces/default/widgets/w/status")[0] == 404


# --- owner references --------------------------------------------------------

def owner(uid="6b7c0dc7-0b9e-4a5c-9a74-1f0e6f1f3c11", controller=False, name="o"):
    return {"apiVersion": "controlplane.cluster.x-k8s.io/v1beta1", "kind": "K0sControlPlane", "name": name,
            "uid": uid, "controller": controller, "blockOwnerDeletion": True}


def test_owner_reference_with_empty_uid_is_422(kube, ns):
    status, body = kube.request("POST", CMS.format(ns=ns), configmap("o", ownerReferences=[owner(uid="")]))
    assert status == 422
    assert body["message"] == ('ConfigMap "o" is invalid: metadata.ownerReferences.uid: Invalid value: "": '
                               "uid must not be empty")


def test_two_controller_owner_references_are_422(kube, ns):
    refs = [owner(controller=True, name="a"), owner(uid=str(uuid.uuid4()), controller=True, name="b")]
    status, body = kube.request("POST", CMS.format(ns=ns), configmap("o", ownerReferences=refs))
    assert status == 422
    assert "Only one reference can have Controller set to true" in body["message"]
    assert body["details"]["causes"][0]["field"] == "metadata.ownerReferences"


def test_owner_is_not_checked_and_nothing_collects(kube, ns):
    ref = dict(owner(controller=True), apiVersion="controlplane.cluster.x-k8s.io/v1alpha9")
    body = create(kube, MACHINES.format(ns=ns), {
        "apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Machine",
        "metadata": {"name": "m", "ownerReferences": [ref]},
        "spec": {"clusterName": "c", "bootstrap": {"dataSecretName": "c-kubeconfig"},
                 "infrastructureRef": {"kind": "RemoteMachine", "name": "m"}}})
    assert body["metadata"]["ownerReferences"] == [ref]
    time.sleep(0.3)
    assert kube.request("GET", MACHINES.format(ns=ns) + "/m")[0] == 200


# --- delete ------------------------------------------------------------------

def test_delete_with_finalizers_sets_deletion_timestamp(kube, ns):
    create(kube, CLUSTERS.format(ns=ns), cluster("f", ns, finalizers=["cluster.cluster.x-k8s.io"]))
    status, body = kube.request("DELETE", CLUSTERS.format(ns=ns) + "/f")
    assert status == 200 and body["kind"] == "Cluster"
    assert body["metadata"]["deletionTimestamp"] and body["metadata"]["deletionGracePeriodSeconds"] == 0
    assert body["metadata"]["generation"] == 2
    assert kube.request("GET", CLUSTERS.format(ns=ns) + "/f")[1]["metadata"]["deletionTimestamp"]
    assert [i["metadata"]["name"] for i in kube.request("GET", CLUSTERS.format(ns=ns))[1]["items"]] == ["f"]
    status, body = kube.request("PATCH", CLUSTERS.format(ns=ns) + "/f", {"metadata": {"finalizers": []}},
                                headers=MERGE)
    assert status == 200 and not body["metadata"].get("finalizers")
    assert kube.request("GET", CLUSTERS.format(ns=ns) + "/f")[0] == 404
    create(kube, CMS.format(ns=ns), configmap("f", finalizers=["example.com/hold"]))
    assert kube.request("DELETE", CMS.format(ns=ns) + "/f")[0] == 200
    assert kube.request("PATCH", CMS.format(ns=ns) + "/f", {"metadata": {"finalizers": None}},
                        headers=MERGE)[0] == 200
    assert kube.request("GET", CMS.format(ns=ns) + "/f")[0] == 404


def test_no_new_finalizers_on_a_terminating_object(kube, ns):
    create(kube, CLUSTERS.format(ns=ns), cluster("t", ns, finalizers=["a.example.com/x"]))
    assert kube.request("DELETE", CLUSTERS.format(ns=ns) + "/t")[0] == 200
    status, body = kube.request("PATCH", CLUSTERS.format(ns=ns) + "/t",
                                {"metadata": {"finalizers": ["a.example.com/x", "b.example.com/y"]}}, headers=MERGE)
    assert status == 422
    assert body["message"] == ('Cluster.cluster.x-k8s.io "t" is invalid: metadata.finalizers: Forbidden: no new '
                               "finalizers can be added if the object is being deleted, found new finalizers "
                               '[]string{"b.example.com/y"}')
    assert body["details"]["causes"][0]["reason"] == "FieldValueForbidden"
    status, body = kube.request("PATCH", CLUSTERS.format(ns=ns) + "/t",
                                {"metadata": {"annotations": {"clusterctl.cluster.x-k8s.io/delete-for-move": ""}}},
                                headers=MERGE)
    assert status == 200 and body["metadata"]["annotations"]
    # the deletion timestamp cannot be taken back
    status, body = kube.request("PATCH", CLUSTERS.format(ns=ns) + "/t", {"metadata": {"deletionTimestamp": None}},
                                headers=MERGE)
    assert status == 200 and body["metadata"]["deletionTimestamp"]


def test_foreground_deletion_adds_a_finalizer_nobody_removes(kube, ns):
    create(kube, CLUSTERS.format(ns=ns), cluster("fg", ns))
    status, body = kube.request("DELETE", CLUSTERS.format(ns=ns) + "/fg?propagationPolicy=Foreground")
    assert status == 200 and body["metadata"]["finalizers"] == ["foregroundDeletion"]
    time.sleep(0.3)
    assert kube.request("GET", CLUSTERS.format(ns=ns) + "/fg")[1]["metadata"]["finalizers"] == ["foregroundDeletion"]
    create(kube, CLUSTERS.format(ns=ns), cluster("or", ns))
    status, body = kube.request("DELETE", CLUSTERS.format(ns=ns) + "/or",
                                {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Orphan"})
    assert status == 200 and body["metadata"]["finalizers"] == ["orphan"]
    policies = [r.get("propagationPolicy") for r in kube.requests() if r["method"] == "DELETE"
                and r["path"].startswith(CLUSTERS.format(ns=ns))]
    assert policies == ["Foreground", "Orphan"]


def test_delete_without_finalizers_is_gone(kube, ns):
    body = create(kube, CLUSTERS.format(ns=ns), cluster("d", ns))
    status, st = kube.request("DELETE", CLUSTERS.format(ns=ns) + "/d?propagationPolicy=Background")
    assert status == 200
    assert st == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                  "details": {"name": "d", "group": "cluster.x-k8s.io", "kind": "clusters",
                              "uid": body["metadata"]["uid"]}}
    assert kube.request("GET", CLUSTERS.format(ns=ns) + "/d")[0] == 404


def test_delete_missing_is_404(kube, ns):
    status, body = kube.request("DELETE", CLUSTERS.format(ns=ns) + "/never")
    assert status == 404
    assert_status(body, 404, "NotFound")
    assert body["message"] == 'clusters.cluster.x-k8s.io "never" not found'
    assert body["details"] == {"name": "never", "group": "cluster.x-k8s.io", "kind": "clusters"}


def test_delete_preconditions(kube, ns):
    body = create(kube, CMS.format(ns=ns), configmap("pre"))
    status, err = kube.request("DELETE", CMS.format(ns=ns) + "/pre", {"preconditions": {"uid": str(uuid.uuid4())}})
    assert status == 409 and "Precondition failed: UID in precondition" in err["message"]
    status, _ = kube.request("DELETE", CMS.format(ns=ns) + "/pre",
                             {"preconditions": {"uid": body["metadata"]["uid"]}, "dryRun": ["All"]})
    assert status == 200 and kube.request("GET", CMS.format(ns=ns) + "/pre")[0] == 200


def test_deleted_namespace_stays_terminating(kube):
    kube.ensure_namespace("doomed")
    create(kube, CMS.format(ns="doomed"), configmap("inside"))
    status, body = kube.request("DELETE", "/api/v1/namespaces/doomed")
    assert status == 200 and body["kind"] == "Namespace"
    assert body["status"]["phase"] == "Terminating" and body["metadata"]["deletionTimestamp"]
    assert body["spec"]["finalizers"] == ["kubernetes"]
    time.sleep(0.3)
    assert kube.request("GET", "/api/v1/namespaces/doomed")[1]["status"]["phase"] == "Terminating"
    assert kube.request("GET", CMS.format(ns="doomed") + "/inside")[0] == 200
    status, body = kube.request("POST", CMS.format(ns="doomed"), configmap("late"))
    assert status == 403 and body["reason"] == "Forbidden"
    assert body["message"] == ('configmaps "late" is forbidden: unable to create new content in namespace doomed '
                               "because it is being terminated")
    status, body = kube.request("DELETE", "/api/v1/namespaces/default")
    assert status == 403 and body["message"] == 'namespaces "default" is forbidden: this namespace may not be deleted'
    # what a namespace controller would do at the end: /finalize empties spec.finalizers and it goes
    ns_obj = kube.request("GET", "/api/v1/namespaces/doomed")[1]
    ns_obj["spec"]["finalizers"] = []
    status, body = kube.request("PUT", "/api/v1/namespaces/doomed/finalize", ns_obj)
    assert status == 200 and kube.request("GET", "/api/v1/namespaces/doomed")[0] == 404


def test_delete_collection(kube, ns):
    for i in range(3):
        create(kube, CMS.format(ns=ns), configmap(f"c{i}", labels={"set": "x" if i < 2 else "y"}))
    status, body = kube.request("DELETE", CMS.format(ns=ns) + "?labelSelector=set%3Dx")
    assert status == 200 and body["kind"] == "ConfigMapList" and len(body["items"]) == 2
    assert [i["metadata"]["name"] for i in kube.request("GET", CMS.format(ns=ns))[1]["items"]] == ["c2"]


# --- reading -----------------------------------------------------------------

def test_not_found_bodies_json_or_plain_text(kube, ns):
    status, body = kube.request("GET", CLUSTERS.format(ns=ns) + "/none")
    assert status == 404 and body["reason"] == "NotFound"
    for path in (f"/apis/cluster.x-k8s.io/v1alpha3/namespaces/{ns}/clusters",  # unserved version
                 f"/apis/cluster.x-k8s.io/v1beta1/namespaces/{ns}/gizmos",     # unknown resource
                 "/apis/nothing.example.com/v1/things", f"/api/v1/namespaces/{ns}/pods",
                 f"/api/v1/namespaces/{ns}/configmaps/x/status"):
        status, body = kube.request("GET", path)
        assert (status, body) == (404, "404 page not found\n"), path
        assert kube.last_headers["Content-Type"] == "text/plain; charset=utf-8"


def test_list_items_of_builtin_types_have_no_type_meta(kube, ns):
    create(kube, CMS.format(ns=ns), configmap("l"))
    create(kube, SECRETS.format(ns=ns), {"metadata": {"name": "l"}, "stringData": {"a": "b"}})
    create(kube, CLUSTERS.format(ns=ns), cluster("l", ns))
    for path, kind in ((CMS, "ConfigMapList"), (SECRETS, "SecretList")):
        status, body = kube.request("GET", path.format(ns=ns))
        assert status == 200 and body["kind"] == kind and body["apiVersion"] == "v1"
        assert body["metadata"]["resourceVersion"].isdigit()
        assert "apiVersion" not in body["items"][0] and "kind" not in body["items"][0]
    status, body = kube.request("GET", CLUSTERS.format(ns=ns))
    assert body["kind"] == "ClusterList" and body["apiVersion"] == "cluster.x-k8s.io/v1beta1"
    assert body["items"][0]["apiVersion"] == "cluster.x-k8s.io/v1beta1" and body["items"][0]["kind"] == "Cluster"
    # a single GET of a built-in type does carry them
    body = kube.request("GET", CMS.format(ns=ns) + "/l")[1]
    assert body["apiVersion"] == "v1" and body["kind"] == "ConfigMap"


def test_secret_string_data_is_folded_into_data(kube, ns):
    body = create(kube, SECRETS.format(ns=ns), {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "c1-kubeconfig"}, "type": "cluster.x-k8s.io/secret",
        "data": {"keep": base64.b64encode(b"old").decode()}, "stringData": {"value": "apiVersion: v1\n"}})
    assert "stringData" not in body and body["type"] == "cluster.x-k8s.io/secret"
    assert base64.b64decode(body["data"]["value"]) == b"apiVersion: v1\n"
    assert base64.b64decode(body["data"]["keep"]) == b"old"
    status, err = kube.request("POST", SECRETS.format(ns=ns), {"metadata": {"name": "bad"}, "data": {"x": "!!"}})
    assert status == 400 and "illegal base64 data" in err["message"]


def test_list_paging_with_continue(kube, ns):
    for i in range(7):
        create(kube, CMS.format(ns=ns), configmap(f"p{i}"))
    status, page = kube.request("GET", CMS.format(ns=ns) + "?limit=3")
    assert [i["metadata"]["name"] for i in page["items"]] == ["p0", "p1", "p2"]
    assert page["metadata"]["remainingItemCount"] == 4
    token, rv = page["metadata"]["continue"], page["metadata"]["resourceVersion"]
    # later writes do not show in the continued list: it reads the first page's snapshot
    kube.request("DELETE", CMS.format(ns=ns) + "/p4")
    create(kube, CMS.format(ns=ns), configmap("p35"))
    names = []
    while token:
        status, page = kube.request("GET", CMS.format(ns=ns) + f"?limit=3&continue={token}")
        assert status == 200 and page["metadata"]["resourceVersion"] == rv
        names += [i["metadata"]["name"] for i in page["items"]]
        token = page["metadata"].get("continue")
    assert names == ["p3", "p4", "p5", "p6"]
    status, err = kube.request("GET", CMS.format(ns=ns) + "?limit=3&continue=garbage")
    assert status == 400 and err["message"].startswith("continue key is not valid")


def test_label_selectors(kube, ns):
    labels = {"a": {"app": "web", "tier": "front"}, "b": {"app": "db", "tier": "back"}, "c": {"app": "web"},
              "d": {}}
    for name, lab in labels.items():
        create(kube, CMS.format(ns=ns), configmap(name, labels=lab))

    def sel(s):
        import urllib.parse
        status, body = kube.request("GET", CMS.format(ns=ns) + "?labelSelector=" + urllib.parse.quote(s))
        assert status == 200, body
        return [i["metadata"]["name"] for i in body["items"]]
    assert sel("app=web") == ["a", "c"]
    assert sel("app==web,tier=front") == ["a"]
    assert sel("app!=web") == ["b", "d"]
    assert sel("app in (db, web),tier") == ["a", "b"]
    assert sel("app notin (web)") == ["b", "d"]
    assert sel("tier") == ["a", "b"]
    assert sel("!tier") == ["c", "d"]
    assert sel("") == ["a", "b", "c", "d"]
    status, body = kube.request("GET", CMS.format(ns=ns) + "?labelSelector=app%3D%3D%3D")
    assert status == 400 and body["reason"] == "BadRequest" and "unable to parse requirement" in body["message"]


def test_field_selectors(kube, ns):
    for name in ("x", "y"):
        create(kube, CLUSTERS.format(ns=ns), cluster(name, ns))
    status, body = kube.request("GET", CLUSTERS.format(ns=ns) + "?fieldSelector=metadata.name%3Dy")
    assert [i["metadata"]["name"] for i in body["items"]] == ["y"]
    status, body = kube.request("GET", "/apis/cluster.x-k8s.io/v1beta1/clusters?fieldSelector="
                                       f"metadata.namespace%3D{ns},metadata.name!%3Dy")
    assert [i["metadata"]["name"] for i in body["items"]] == ["x"]
    status, body = kube.request("GET", CLUSTERS.format(ns=ns) + "?fieldSelector=spec.paused%3Dtrue")
    assert status == 400
    assert body["message"] == '"spec.paused" is not a known field selector: only "metadata.name", "metadata.namespace"'


def test_list_across_namespaces_and_in_a_missing_one(kube, ns):
    create(kube, CLUSTERS.format(ns=ns), cluster("everywhere", ns))
    _, body = kube.request("GET", "/apis/cluster.x-k8s.io/v1beta1/clusters")
    assert (ns, "everywhere") in [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in body["items"]]
    status, body = kube.request("GET", CLUSTERS.format(ns="no-such-namespace"))
    assert status == 200 and body["items"] == []


def test_served_versions_share_one_object(kube, ns):
    spec = {"address": "10.0.0.5", "prefix": 24, "claimRef": {"name": "c"},
            "poolRef": {"apiGroup": "ipam.example.com", "kind": "Pool", "name": "p"}}
    create(kube, f"/apis/ipam.cluster.x-k8s.io/v1beta1/namespaces/{ns}/ipaddresses",
           {"apiVersion": "ipam.cluster.x-k8s.io/v1beta1", "kind": "IPAddress", "metadata": {"name": "ip"},
            "spec": spec})
    status, body = kube.request("GET", f"/apis/ipam.cluster.x-k8s.io/v1alpha1/namespaces/{ns}/ipaddresses/ip")
    assert status == 200 and body["apiVersion"] == "ipam.cluster.x-k8s.io/v1alpha1" and body["spec"] == spec


def test_cluster_scoped_custom_resource(kube):
    path = "/apis/runtime.cluster.x-k8s.io/v1alpha1/extensionconfigs"
    body = create(kube, path, {"apiVersion": "runtime.cluster.x-k8s.io/v1alpha1", "kind": "ExtensionConfig",
                               "metadata": {"name": "ext", "namespace": "ignored"},
                               "spec": {"clientConfig": {"url": "https://x"}}})
    assert "namespace" not in body["metadata"]
    assert kube.request("GET", path + "/ext")[0] == 200
    assert kube.request("GET", "/apis/runtime.cluster.x-k8s.io/v1alpha1/namespaces/default/extensionconfigs")[0] \
        == 404


# --- discovery and CRDs ------------------------------------------------------

def test_discovery_of_the_capi_crds(kube):
    status, apis = kube.request("GET", "/apis")
    assert status == 200 and apis["kind"] == "APIGroupList"
    groups = {g["name"]: g for g in apis["groups"]}
    assert groups["cluster.x-k8s.io"]["versions"] == [{"groupVersion": "cluster.x-k8s.io/v1beta1",
                                                       "version": "v1beta1"}]
    assert groups["ipam.cluster.x-k8s.io"]["preferredVersion"]["version"] == "v1beta1"
    assert [v["version"] for v in groups["ipam.cluster.x-k8s.io"]["versions"]] == ["v1beta1", "v1alpha1"]
    for g in ("controlplane.cluster.x-k8s.io", "bootstrap.cluster.x-k8s.io", "infrastructure.cluster.x-k8s.io",
              "clusterctl.cluster.x-k8s.io", "apiextensions.k8s.io"):
        assert g in groups
    status, grp = kube.request("GET", "/apis/cluster.x-k8s.io")
    assert grp["kind"] == "APIGroup" and grp["name"] == "cluster.x-k8s.io"
    status, rl = kube.request("GET", "/apis/cluster.x-k8s.io/v1beta1")
    assert rl["kind"] == "APIResourceList" and rl["groupVersion"] == "cluster.x-k8s.io/v1beta1"
    res = {r["name"]: r for r in rl["resources"]}
    cl = res["clusters"]
    assert (cl["singularName"], cl["namespaced"], cl["kind"], cl["shortNames"], cl["categories"]) == \
        ("cluster", True, "Cluster", ["cl"], ["cluster-api"])
    assert set(cl["verbs"]) == {"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
    assert res["clusters/status"]["verbs"] == ["get", "patch", "update"]
    assert res["machinedeployments/scale"]["kind"] == "Scale" and res["machinedeployments/scale"]["group"] == \
        "autoscaling"
    assert "machinedrainrules/status" not in res
    _, rl = kube.request("GET", "/apis/controlplane.cluster.x-k8s.io/v1beta1")
    res = {r["name"]: r for r in rl["resources"]}
    assert res["k0scontrolplanes"]["kind"] == "K0sControlPlane" and res["k0scontrolplanes"]["namespaced"]
    assert "k0scontrolplanes/status" in res and "k0scontrolplanes/scale" in res
    _, core = kube.request("GET", "/api/v1")
    assert core["kind"] == "APIResourceList" and core["groupVersion"] == "v1"
    names = {r["name"]: r for r in core["resources"]}
    assert {"namespaces", "configmaps", "secrets", "namespaces/status", "namespaces/finalize"} <= set(names)
    assert names["namespaces"]["namespaced"] is False and names["secrets"]["namespaced"] is True
    _, api = kube.request("GET", "/api")
    assert api["kind"] == "APIVersions" and api["versions"] == ["v1"]
    assert kube.request("GET", "/apis/cluster.x-k8s.io/v1alpha3") == (404, "404 page not found\n")
    status, ver = kube.request("GET", "/version")
    assert status == 200 and ver["major"] == "1" and ver["gitVersion"].startswith("v1.26")


def test_crds_found_by_the_clusterctl_label(kube):
    status, body = kube.request("GET", CRDS + "?labelSelector=" + CLUSTERCTL_LABEL)
    assert status == 200 and body["kind"] == "CustomResourceDefinitionList"
    names = {i["metadata"]["name"] for i in body["items"]}
    assert {"clusters.cluster.x-k8s.io", "k0scontrolplanes.controlplane.cluster.x-k8s.io",
            "remotemachines.infrastructure.cluster.x-k8s.io", "providers.clusterctl.cluster.x-k8s.io"} <= names
    assert len({n for n in names if not n.endswith(".example.strata.test")}) == 27
    crd = kube.request("GET", CRDS + "/clusters.cluster.x-k8s.io")[1]
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1" and crd["kind"] == "CustomResourceDefinition"
    conds = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conds == {"NamesAccepted": "True", "Established": "True"}
    assert crd["status"]["storedVersions"] == ["v1beta1"] and crd["status"]["acceptedNames"]["kind"] == "Cluster"
    assert [v["name"] for v in crd["spec"]["versions"] if v["storage"]] == ["v1beta1"]


def small_crd(plural, kind, group="example.strata.test", subresources=True, scope="Namespaced"):
    schema = {"type": "object", "properties": {
        "spec": {"type": "object", "properties": {"size": {"type": "integer", "minimum": 0},
                                                   "mode": {"type": "string", "enum": ["a", "b"]},
                                                   "extra": {"type": "object",
                                                             "x-kubernetes-preserve-unknown-fields": True}}},
        "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}}}}
    v = {"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": schema}}
    if subresources:
        v["subresources"] = {"status": {}}
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{group}", "labels": {CLUSTERCTL_LABEL: ""}},
            "spec": {"group": group, "scope": scope, "versions": [v],
                     "names": {"plural": plural, "singular": kind.lower(), "kind": kind}}}


def wait_served(kube, path, timeout=5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, _ = kube.request("GET", path)
        if status == 200:
            return
        time.sleep(0.05)
    raise AssertionError(f"{path} not served after {timeout}s")


def test_crd_install_serve_and_delete(kube):
    body = create(kube, CRDS, small_crd("gadgets", "Gadget"))
    assert body["status"]["acceptedNames"] == {"kind": "", "plural": ""}  # as stored, before the controllers ran
    assert body["metadata"]["generation"] == 1 and body["spec"]["names"]["listKind"] == "GadgetList"
    status, body = kube.request("POST", CRDS, small_crd("gadgets", "Gadget"))
    assert status == 409
    assert body["message"] == 'customresourcedefinitions.apiextensions.k8s.io "gadgets.example.strata.test" already ' \
                              "exists"
    crd = kube.request("GET", CRDS + "/gadgets.example.strata.test")[1]
    assert {c["type"]: c["status"] for c in crd["status"]["conditions"]}["Established"] == "True"
    path = "/apis/example.strata.test/v1/namespaces/default/gadgets"
    wait_served(kube, path)
    _, rl = kube.request("GET", "/apis/example.strata.test/v1")
    assert {r["name"] for r in rl["resources"]} >= {"gadgets", "gadgets/status"}
    g = {"apiVersion": "example.strata.test/v1", "kind": "Gadget", "metadata": {"name": "g"},
         "spec": {"size": 2, "mode": "a", "extra": {"anything": {"goes": 1}}}}
    body = create(kube, path, g)
    assert body["spec"]["extra"] == {"anything": {"goes": 1}}  # x-kubernetes-preserve-unknown-fields
    status, body = kube.request("POST", path, dict(g, metadata={"name": "h"}, spec={"size": -1, "mode": "c"}))
    assert status == 422
    assert "spec.size: Invalid value: -1: spec.size in body should be greater than or equal to 0" in body["message"]
    assert 'spec.mode: Unsupported value: "c": supported values: "a", "b"' in body["message"]
    create(kube, path, dict(g, metadata={"name": "held", "finalizers": ["example.strata.test/hold"]}))
    status, body = kube.request("DELETE", CRDS + "/gadgets.example.strata.test")
    assert status == 200 and body["metadata"]["deletionTimestamp"]
    assert "customresourcecleanup.apiextensions.k8s.io" in body["metadata"]["finalizers"]
    # the instance without finalizers went; the held one waits, and so does the CRD
    assert kube.request("GET", path + "/g")[0] == 404
    assert kube.request("GET", path + "/held")[1]["metadata"]["deletionTimestamp"]
    status, body = kube.request("POST", path, dict(g, metadata={"name": "new"}))
    assert status == 405 and body["message"] == "create not allowed while custom resource definition is terminating"
    kube.request("PATCH", path + "/held", {"metadata": {"finalizers": None}}, headers=MERGE)
    assert kube.request("GET", CRDS + "/gadgets.example.strata.test")[0] == 404
    assert kube.request("GET", path) == (404, "404 page not found\n")


def test_crd_validation(kube):
    crd = small_crd("things", "Thing")
    crd["metadata"]["name"] = "wrong.example.strata.test"
    status, body = kube.request("POST", CRDS, crd)
    assert status == 422 and 'must be spec.names.plural+"."+spec.group' in body["message"]
    crd = small_crd("things", "Thing")
    crd["spec"]["versions"][0]["storage"] = False
    status, body = kube.request("POST", CRDS, crd)
    assert status == 422 and "must have exactly one version marked as storage version" in body["message"]


def test_crd_just_established_can_still_404():
    with KubeStandin(crds=(), serve_delay=1.0) as k:
        assert k.request("POST", CRDS, small_crd("slowpokes", "Slowpoke"))[0] == 201
        crd = k.request("GET", CRDS + "/slowpokes.example.strata.test")[1]
        assert {c["type"]: c["status"] for c in crd["status"]["conditions"]}["Established"] == "True"
        path = "/apis/example.strata.test/v1/namespaces/default/slowpokes"
        assert k.request("GET", path) == (404, "404 page not found\n")
        time.sleep(1.1)
        assert k.request("GET", path)[0] == 200


def test_crd_labels_patched_by_clusterctl(kube_standin):
    k = kube_standin
    status, body = k.request("GET", CRDS + "?labelSelector=" + CLUSTERCTL_LABEL)
    assert status == 200 and body["items"] == []
    status, body = k.request("PATCH", CRDS + "/clusters.cluster.x-k8s.io",
                             {"metadata": {"labels": {CLUSTERCTL_LABEL: "",
                                                      "cluster.x-k8s.io/provider": "cluster-api"}}},
                             headers=MERGE)
    assert status == 200 and body["metadata"]["generation"] == 1
    _, body = k.request("GET", CRDS + "?labelSelector=" + CLUSTERCTL_LABEL)
    assert [i["metadata"]["name"] for i in body["items"]] == ["clusters.cluster.x-k8s.io"]


# --- patch flavours, apply ---------------------------------------------------

def test_json_patch(kube, ns):
    create(kube, CLUSTERS.format(ns=ns), cluster("j", ns, {"paused": True}, labels={"a": "1"}))
    ops = [{"op": "add", "path": "/metadata/annotations", "value": {"clusterctl.cluster.x-k8s.io/delete-for-move": ""}},
           {"op": "replace", "path": "/spec/paused", "value": False},
           {"op": "copy", "from": "/metadata/labels/a", "path": "/metadata/labels/b"},
           {"op": "move", "from": "/metadata/labels/a", "path": "/metadata/labels/c"},
           {"op": "test", "path": "/metadata/labels/b", "value": "1"},
           {"op": "remove", "path": "/metadata/labels/b"}]
    status, body = kube.request("PATCH", CLUSTERS.format(ns=ns) + "/j", ops, headers=JSONPATCH)
    assert status == 200, body
    assert body["metadata"]["annotations"] == {"clusterctl.cluster.x-k8s.io/delete-for-move": ""}
    assert body["metadata"]["labels"] == {"c": "1"} and body["spec"]["paused"] is False
    status, body = kube.request("PATCH", CLUSTERS.format(ns=ns) + "/j",
                                [{"op": "test", "path": "/spec/paused", "value": True}], headers=JSONPATCH)
    assert status == 422
    assert_status(body, 422, "Invalid")
    assert "testing value /spec/paused failed" in body["details"]["causes"][0]["message"]
    status, body = kube.request("PATCH", CLUSTERS.format(ns=ns) + "/j", [{"op": "explode", "path": "/x"}],
                                headers=JSONPATCH)
    assert status == 400
    status, body = kube.request("PATCH", CLUSTERS.format(ns=ns) + "/j",
                                [{"op": "remove", "path": "/metadata/labels/nope"}], headers=JSONPATCH)
    assert status == 422


def test_unsupported_patch_types(kube, ns):
    create(kube, CLUSTERS.format(ns=ns), cluster("sm", ns))
    status, body = kube.request("PATCH", CLUSTERS.format(ns=ns) + "/sm", {"spec": {}},
                                headers={"Content-Type": "application/strategic-merge-patch+json"})
    assert status == 415
    assert_status(body, 415, "UnsupportedMediaType")
    assert body["message"] == ("the body of the request was in an unknown format - accepted media types include: "
                               "application/json-patch+json, application/merge-patch+json, "
                               "application/apply-patch+yaml")
    # built-in types take a strategic merge patch: finalizers merge as a set
    create(kube, CMS.format(ns=ns), configmap("sm", finalizers=["a.example.com/x"]))
    status, body = kube.request("PATCH", CMS.format(ns=ns) + "/sm", {"metadata": {"finalizers": ["b.example.com/y"]}},
                                headers={"Content-Type": "application/strategic-merge-patch+json"})
    assert status == 200 and body["metadata"]["finalizers"] == ["a.example.com/x", "b.example.com/y"]


def test_server_side_apply(kube, ns):
    path = CMS.format(ns=ns) + "/app"
    cfg = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  labels: {team: a}\ndata:\n  x: '1'\n  y: '2'\n"
    status, body = kube.request("PATCH", path + "?fieldManager=alpha", cfg, headers=APPLY)
    assert status == 201 and body["data"] == {"x": "1", "y": "2"}
    mf = body["metadata"]["managedFields"]
    assert [(e["manager"], e["operation"]) for e in mf] == [("alpha", "Apply")]
    assert mf[0]["fieldsV1"]["f:data"] == {"f:x": {}, "f:y": {}}
    # applying the same again changes nothing
    rv = body["metadata"]["resourceVersion"]
    status, body = kube.request("PATCH", path + "?fieldManager=alpha", cfg, headers=APPLY)
    assert status == 200 and body["metadata"]["resourceVersion"] == rv
    # another manager setting one of alpha's fields to another value conflicts
    other = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  x: '9'\n  z: '3'\n"
    status, body = kube.request("PATCH", path + "?fieldManager=beta", other, headers=APPLY)
    assert status == 409
    assert_status(body, 409, "Conflict")
    assert body["message"] == 'Apply failed with 1 conflict: conflict with "alpha": .data.x'
    assert body["details"]["causes"] == [{"reason": "FieldManagerConflict", "message": 'conflict with "alpha"',
                                          "field": ".data.x"}]
    # the same value is shared ownership, not a conflict
    same = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  x: '1'\n"
    assert kube.request("PATCH", path + "?fieldManager=gamma", same, headers=APPLY)[0] == 200
    status, body = kube.request("PATCH", path + "?fieldManager=beta&force=true", other, headers=APPLY)
    assert status == 200 and body["data"] == {"x": "9", "y": "2", "z": "3"}
    owners = {e["manager"]: e["fieldsV1"].get("f:data", {}) for e in body["metadata"]["managedFields"]}
    assert owners["beta"] == {"f:x": {}, "f:z": {}} and owners["alpha"] == {"f:y": {}} and "gamma" not in owners
    # alpha stops applying y and its label: they go, since nobody else owns them
    status, body = kube.request("PATCH", path + "?fieldManager=alpha",
                                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n", headers=APPLY)
    assert status == 200 and body["data"] == {"x": "9", "z": "3"} and "labels" not in body["metadata"]
    status, body = kube.request("PATCH", path, cfg, headers=APPLY)
    assert status == 400 and body["message"] == "fieldManager is required for apply requests"


def test_apply_conflicts_with_an_update_manager_and_on_custom_resources(kube, ns):
    create(kube, CLUSTERS.format(ns=ns), cluster("ap", ns, {"paused": True}), headers={"User-Agent": "creator/1"})
    cfg = yaml.safe_dump({"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Cluster",
                          "metadata": {"name": "ap", "namespace": ns}, "spec": {"paused": False}})
    status, body = kube.request("PATCH", CLUSTERS.format(ns=ns) + "/ap?fieldManager=strata", cfg, headers=APPLY)
    assert status == 409
    assert body["message"] == ('Apply failed with 1 conflict: conflict with "creator" using cluster.x-k8s.io/v1beta1: '
                               ".spec.paused")
    status, body = kube.request("PATCH", CLUSTERS.format(ns=ns) + "/ap?fieldManager=strata&force=true", cfg,
                                headers=APPLY)
    assert status == 200 and body["spec"]["paused"] is False and body["metadata"]["generation"] == 2


def test_scale_subresource(kube, ns):
    md = {"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "MachineDeployment", "metadata": {"name": "md"},
          "spec": {"clusterName": "c", "replicas": 2, "selector": {"matchLabels": {"a": "b"}},
                   "template": {"metadata": {"labels": {"a": "b"}}, "spec": {
                       "clusterName": "c", "bootstrap": {}, "infrastructureRef": {"kind": "RemoteMachine"}}}}}
    path = f"/apis/cluster.x-k8s.io/v1beta1/namespaces/{ns}/machinedeployments/md"
    create(kube, f"/apis/cluster.x-k8s.io/v1beta1/namespaces/{ns}/machinedeployments", md)
    status, sc = kube.request("GET", path + "/scale")
    assert status == 200 and sc["kind"] == "Scale" and sc["apiVersion"] == "autoscaling/v1"
    assert sc["spec"]["replicas"] == 2
    status, sc = kube.request("PATCH", path + "/scale", {"spec": {"replicas": 5}}, headers=MERGE)
    assert status == 200 and sc["spec"]["replicas"] == 5
    assert kube.request("GET", path)[1]["spec"]["replicas"] == 5


# --- protocol --------------------------------------------------------------------

def test_auth_refused_without_certificate_or_token(kube):
    status, body = kube.request("GET", "/api/v1/namespaces", auth=None)
    assert status == 401
    assert body == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": "Unauthorized", "reason": "Unauthorized", "code": 401}
    status, body = kube.request("GET", "/api/v1/namespaces", auth=None, headers={"Authorization": "Bearer nope"})
    assert status == 401
    status, body = kube.request("GET", "/api/v1/namespaces", auth="token")
    assert status == 200 and body["kind"] == "NamespaceList"
    # a client certificate from another CA does not even get through the handshake
    with KubeStandin(crds=()) as other:
        ctx = ssl.create_default_context(cafile=kube.ca)
        ctx.load_cert_chain(other.client_cert, other.client_key)
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            with socket.create_connection((kube.host, kube.port), timeout=5) as raw:
                with ctx.wrap_socket(raw, server_hostname=kube.host) as s:
                    s.sendall(b"GET /api HTTP/1.1\r\nHost: x\r\n\r\n")
                    if not s.recv(100):
                        raise ConnectionError("closed")


def test_kubeconfig_works_with_curl(kube_standin, tmp_path):
    with open(kube_standin.kubeconfig) as f:
        cfg = yaml.safe_load(f)
    assert cfg["current-context"] == cfg["contexts"][0]["name"]
    cluster_ = cfg["clusters"][0]["cluster"]
    user = cfg["users"][0]["user"]
    assert cluster_["server"] == kube_standin.url and kube_standin.url.startswith("https://127.0.0.1:")
    files = {}
    for key, name in (("certificate-authority-data", "ca"), ("client-certificate-data", "crt"),
                      ("client-key-data", "key")):
        src = cluster_ if key.startswith("certificate") else user
        files[name] = tmp_path / name
        files[name].write_bytes(base64.b64decode(src[key]))
    out = subprocess.run(["curl", "-sS", "--cacert", str(files["ca"]), "--cert", str(files["crt"]), "--key",
                          str(files["key"]), kube_standin.url + "/api/v1/namespaces/kube-system"],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["metadata"]["name"] == "kube-system"
    out = subprocess.run(["curl", "-sS", "--cacert", str(files["ca"]), kube_standin.url + "/api"],
                         capture_output=True, text=True, timeout=20)
    assert json.loads(out.stdout)["code"] == 401
    assert kube_standin.requests()[-1]["status"] == 401


def test_token_kubeconfig():
    with KubeStandin(crds=(), auth="token", name="target") as k:
        with open(k.kubeconfig) as f:
            cfg = yaml.safe_load(f)
        assert cfg["users"][0]["user"] == {"token": k.token}
        assert cfg["clusters"][0]["name"] == "target"
        out = subprocess.run(["curl", "-sS", "--cacert", k.ca, "-H", f"Authorization: Bearer {k.token}",
                              k.url + "/api/v1/namespaces/default"], capture_output=True, text=True, timeout=20)
        assert json.loads(out.stdout)["kind"] == "Namespace"
        pid = k.pid
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_method_not_allowed_and_media_types(kube, ns):
    status, body = kube.request("POST", CMS.format(ns=ns) + "/x", configmap("x"))
    assert status == 405
    assert_status(body, 405, "MethodNotAllowed")
    status, body = kube.request("POST", CMS.format(ns=ns), "data: x", headers={"Content-Type": "text/plain"})
    assert status == 415
    status, body = kube.request("POST", CMS.format(ns=ns), "metadata: {name: yml}\ndata: {a: b}\n",
                                headers={"Content-Type": "application/yaml"})
    assert status == 201 and body["data"] == {"a": "b"}
    status, body = kube.request("POST", CMS.format(ns=ns), "{not json", headers={"Content-Type": "application/json"})
    assert status == 400 and body["reason"] == "BadRequest"
    status, body = kube.request("GET", CMS.format(ns=ns), headers={"Accept": "application/vnd.kubernetes.protobuf"})
    assert status == 406


def test_watch(kube, ns):
    _, lst = kube.request("GET", CMS.format(ns=ns))
    rv = lst["metadata"]["resourceVersion"]
    events = []

    def watch():
        conn = http.client.HTTPSConnection(kube.host, kube.port, timeout=10,
                                                                context=kube.ssl_context())
        conn.request("GET", CMS.format(ns=ns) + f"?watch=1&resourceVersion={rv}&timeoutSeconds=3")
        resp = conn.getresponse()
        for line in resp:
            events.append(json.loads(line))
            if len(events) == 3:
                break
        conn.close()
    t = threading.Thread(target=watch)
    t.start()
    time.sleep(0.2)
    create(kube, CMS.format(ns=ns), configmap("w"))
    kube.request("PATCH", CMS.format(ns=ns) + "/w", {"data": {"k": "2"}}, headers=MERGE)
    kube.request("DELETE", CMS.format(ns=ns) + "/w")
    t.join(10)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]
    assert events[1]["object"]["data"] == {"k": "2"} and events[0]["object"]["kind"] == "ConfigMap"


def test_request_log(kube, ns):
    kube.request("GET", CMS.format(ns=ns) + "?limit=1", headers={"User-Agent": "logger-test/2"})
    rec = kube.requests()[-1]
    assert rec["method"] == "GET" and rec["path"] == CMS.format(ns=ns) and rec["query"] == "limit=1"
    assert rec["status"] == 200 and rec["user"] == "kubernetes-admin" and rec["userAgent"] == "logger-test/2"


def test_nodes_and_leases(kube, ns):
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n-" + ns},
            "spec": {"providerID": "remote-machine://10.0.0.2:22"}, "status": {"addresses": [
                {"type": "InternalIP", "address": "10.0.0.2"}]}}
    body = create(kube, "/api/v1/nodes", node)
    assert body["status"]["addresses"][0]["address"] == "10.0.0.2"  # nodes keep the status they are created with
    status, body = kube.request("PATCH", f"/api/v1/nodes/n-{ns}",
                                {"metadata": {"labels": {"k0smotron.io/machine-name": "m0"}}}, headers=MERGE)
    assert status == 200 and body["metadata"]["labels"] == {"k0smotron.io/machine-name": "m0"}
    _, lst = kube.request("GET", "/api/v1/nodes?labelSelector=k0smotron.io/machine-name%3Dm0")
    assert [i["metadata"]["name"] for i in lst["items"]] == [f"n-{ns}"]
    lease_path = f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases"
    lease = create(kube, lease_path, {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                      "metadata": {"name": "pivot"},
                                      "spec": {"holderIdentity": "seed", "leaseDurationSeconds": 15}})
    lease["spec"]["holderIdentity"] = "other"
    del lease["metadata"]["resourceVersion"]
    status, body = kube.request("PUT", lease_path + "/pivot", lease)
    assert status == 422 and "must be specified for an update" in body["message"]


def test_watch_from_now_sends_current_objects_first(kube, ns):
    create(kube, CMS.format(ns=ns), configmap("old", labels={"w": "1"}))
    create(kube, CMS.format(ns=ns), configmap("other"))
    conn = http.client.HTTPSConnection(kube.host, kube.port, timeout=10,
                                                            context=kube.ssl_context())
    conn.request("GET", CMS.format(ns=ns) + "?watch=true&labelSelector=w%3D1&timeoutSeconds=2")
    resp = conn.getresponse()
    assert resp.status == 200 and resp.getheader("Transfer-Encoding") == "chunked"
    first = json.loads(resp.readline())
    kube.request("PATCH", CMS.format(ns=ns) + "/old", {"metadata": {"labels": {"w": "2"}}}, headers=MERGE)
    second = json.loads(resp.readline())
    conn.close()
    assert (first["type"], first["object"]["metadata"]["name"]) == ("ADDED", "old")
    assert (second["type"], second["object"]["metadata"]["labels"]) == ("DELETED", {"w": "2"})


def test_pair_of_servers_for_a_pivot(kube_pair):
    source, target = kube_pair
    assert source.url != target.url and source.ca != target.ca
    for k, name in ((source, "source"), (target, "target")):
        with open(k.kubeconfig) as f:
            assert yaml.safe_load(f)["clusters"][0]["name"] == name
        _, body = k.request("GET", CRDS + "?labelSelector=" + CLUSTERCTL_LABEL)
        assert len(body["items"]) == 27
    # each trusts only its own clients
    ctx = ssl.create_default_context(cafile=target.ca)
    ctx.load_cert_chain(source.client_cert, source.client_key)
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        with socket.create_connection((target.host, target.port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname=target.host) as s:
                s.sendall(b"GET /api HTTP/1.1\r\nHost: x\r\n\r\n")
                if not s.recv(100):
                    raise ConnectionError("closed")


# ---- admission webhooks (provider components; see the stand-in's docstring) ----

def CL(name):
    return {"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Cluster", "metadata": {"name": name}}


def webhook_config(name, service, rules_resource="clusters", failure="Fail", side_effects="None"):
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": name},
            "webhooks": [{"name": f"{name}.example.io", "admissionReviewVersions": ["v1"],
                          "clientConfig": {"service": {"namespace": "hooks", "name": service, "path": "/validate"}},
                          "failurePolicy": failure, "sideEffects": side_effects,
                          "rules": [{"apiGroups": ["cluster.x-k8s.io"], "apiVersions": ["v1beta1"],
                                     "operations": ["CREATE", "UPDATE"], "resources": [rules_resource]}]}]}


def test_webhook_without_backend_fails_create_with_500_until_deployment_available():
    with KubeStandin() as k:
        k.ensure_namespace("hooks")
        k.ensure_namespace("w")
        hooks = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"
        assert k.request("POST", hooks, webhook_config("v", "svc"))[0] == 201
        path = CLUSTERS.format(ns="w")
        status, body = k.request("POST", path, CL("c"))
        assert status == 500 and body["reason"] == "InternalError"
        assert body["message"] == ('Internal error occurred: failed calling webhook "v.example.io": failed to call '
                                   'webhook: Post "https://svc.hooks.svc:443/validate?timeout=10s": service "svc" '
                                   'not found')
        assert body["details"]["causes"][0]["message"].startswith('failed calling webhook "v.example.io"')
        # a ConfigMap is not covered by the rules
        assert k.request("POST", CMS.format(ns="w"), {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}})[0] == 201
        assert k.request("POST", "/api/v1/namespaces/hooks/services",
                         {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc"}, "spec": {"selector": {"app": "hook"},
                                                                "ports": [{"port": 443}]}})[0] == 201
        dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "hook"}, "spec": {"selector": {"matchLabels": {"app": "hook"}},
                                                      "template": {"metadata": {"labels": {"app": "hook"}}}}}
        assert k.request("POST", "/apis/apps/v1/namespaces/hooks/deployments", dep)[0] == 201
        status, body = k.request("POST", path + "?dryRun=All", CL("c"))
        assert status == 500 and body["message"].endswith('no endpoints available for service "svc"')
        # the deployment controller's part: Available
        status, _ = k.request("PATCH", "/apis/apps/v1/namespaces/hooks/deployments/hook/status",
                              {"status": {"conditions": [{"type": "Available", "status": "True"}]}}, headers=MERGE)
        assert status == 200
        status, body = k.request("POST", path + "?dryRun=All", CL("c"))
        assert status == 201
        assert k.request("GET", path + "/c")[0] == 404
        assert k.request("POST", path, CL("c"))[0] == 201
        # an update goes through the webhook as well
        assert k.request("PATCH", path + "/c", {"metadata": {"labels": {"a": "b"}}}, headers=MERGE)[0] == 200


def test_webhook_failure_policy_ignore_and_dry_run_side_effects():
    with KubeStandin() as k:
        k.ensure_namespace("w")
        hooks = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"
        assert k.request("POST", hooks, webhook_config("i", "none", failure="Ignore"))[0] == 201
        path = CLUSTERS.format(ns="w")
        assert k.request("POST", path, CL("c"))[0] == 201
        assert k.request("POST", hooks, webhook_config("s", "none", side_effects="Unknown"))[0] == 201
        status, body = k.request("POST", path + "?dryRun=All", CL("d"))
        assert status == 400 and body["message"] == 'admission webhook "s.example.io" does not support dry run'
        # provider workload kinds are served
        status, d = k.request("GET", "/apis/rbac.authorization.k8s.io/v1")
        assert status == 200 and {r["name"] for r in d["resources"]} >= {"clusterroles", "clusterrolebindings",
                                                                        "roles", "rolebindings"}
