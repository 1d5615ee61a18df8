#!/bin/sh
# Builds the Cluster API provider components as a clusterctl local
# repository (images/README.md, "Cluster API provider repository"):
#
#   build.sh SRCDIR CRDDIR OUT [CERT_MANAGER_DIR]
#
# SRCDIR  images/capi (the manifests Strata writes)
# CRDDIR  the real CRDs: CRDDIR/cluster-api-v1.10/*.yaml (core, and
#         clusterctl's own Provider CRD) and CRDDIR/k0smotron-v1.10.0/*.yaml
#         (bootstrap, control plane, infrastructure, split by API group)
# OUT     the repository to (re)write:
#           OUT/cluster-api/vV/{core-components.yaml,metadata.yaml}
#           OUT/bootstrap-k0sproject-k0smotron/vK/{bootstrap-components.yaml,metadata.yaml}
#           OUT/control-plane-k0sproject-k0smotron/vK/{control-plane-components.yaml,metadata.yaml}
#           OUT/infrastructure-k0sproject-k0smotron/vK/{infrastructure-components.yaml,metadata.yaml}
#           OUT/cert-manager/vC/cert-manager.yaml   (only with CERT_MANAGER_DIR)
#           OUT/clusterctl-inventory.yaml           (clusterctl's Provider CRD)
# CERT_MANAGER_DIR  a directory of cert-manager release YAML (its CRDs,
#         namespace, controllers, webhook), concatenated into the
#         cert-manager slot; empty or absent: no slot, and `strata capi
#         install` refuses unless --without-cert-manager.
#
# Versions: CAPI_VERSION (v1.10.7), K0SMOTRON_VERSION (v1.10.0),
# CERT_MANAGER_VERSION (v1.16.3). Every object gets the labels `clusterctl
# init` writes (clusterctl.cluster.x-k8s.io, cluster.x-k8s.io/provider, or
# clusterctl.cluster.x-k8s.io/core for cert-manager and the inventory), so
# the repository installs the same with clusterctl or with Strata.
# The output is a function of the inputs: keys sorted, files in name order.
set -eu

[ $# -ge 3 ] && [ $# -le 4 ] || { echo "usage: $0 SRCDIR CRDDIR OUT [CERT_MANAGER_DIR]" >&2; exit 2; }
src=$1 crds=$2 out=$3 certmgr=${4:-}
command -v python3 >/dev/null || { echo "$0: python3 is missing" >&2; exit 1; }
python3 -c 'import yaml' 2>/dev/null || { echo "$0: python3-yaml is missing (tools/deps.sh installs it)" >&2; exit 1; }
[ -d "$crds/cluster-api-v1.10" ] && [ -d "$crds/k0smotron-v1.10.0" ] ||
        { echo "$0: $crds: no cluster-api-v1.10/ and k0smotron-v1.10.0/ CRD folders (set CAPI_CRDS=DIR)" >&2; exit 1; }
if [ -n "$certmgr" ] && ! ls "$certmgr"/*.yaml >/dev/null 2>&1; then
        echo "$0: CERT_MANAGER_DIR=$certmgr holds no *.yaml" >&2
        exit 1
fi

mkdir -p "$(dirname "$out")"
tmp=$(mktemp -d "${out%/}.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

CAPI_VERSION=${CAPI_VERSION:-v1.10.7} K0SMOTRON_VERSION=${K0SMOTRON_VERSION:-v1.10.0} \
CERT_MANAGER_VERSION=${CERT_MANAGER_VERSION:-v1.16.3} \
python3 - "$src" "$crds" "$tmp" "$certmgr" <<'PY'
import glob, os, re, string, sys
import yaml

src, crds, out, certmgr = sys.argv[1:5]
capi_v = os.environ["CAPI_VERSION"]
k0s_v = os.environ["K0SMOTRON_VERSION"]
cm_v = os.environ["CERT_MANAGER_VERSION"]
for v in (capi_v, k0s_v, cm_v):
    if not re.fullmatch(r"v[0-9]+\.[0-9]+\.[0-9]+", v):
        sys.exit(f"build.sh: not a version: {v!r}")
CLUSTERCTL = "clusterctl.cluster.x-k8s.io"


def load(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def render(name, **subst):
    with open(os.path.join(src, name)) as f:
        text = string.Template(f.read()).substitute(subst)
    return [d for d in yaml.safe_load_all(text) if d]


def crds_of(folder, prefix):
    docs = []
    for p in sorted(glob.glob(os.path.join(crds, folder, prefix + "*.yaml"))):
        docs += [d for d in load(p) if d.get("kind") == "CustomResourceDefinition"]
    if not docs:
        sys.exit(f"build.sh: no CRDs {folder}/{prefix}*.yaml under {crds}")
    return docs


def label(docs, labels):
    for d in docs:
        md = d.setdefault("metadata", {})
        md["labels"] = dict(md.get("labels") or {}, **labels)
    return docs


def write(path, docs):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        yaml.safe_dump_all(docs, f, sort_keys=True, default_flow_style=False)


def metadata(major, minor):
    # clusterctl's Metadata: which release series speaks which CAPI contract
    return [{"apiVersion": "clusterctl.cluster.x-k8s.io/v1alpha3", "kind": "Metadata",
             "releaseSeries": [{"major": major, "minor": minor, "contract": "v1beta1"}]}]


def series(v):
    major, minor, _ = v[1:].split(".")
    return int(major), int(minor)


# core: Strata's manifests, then every cluster-api CRD except clusterctl's own
core_crds = [d for d in crds_of("cluster-api-v1.10", "")
             if d["spec"]["group"] != CLUSTERCTL]
docs = label(render("core.yaml", VERSION=capi_v) + core_crds,
             {CLUSTERCTL: "", "cluster.x-k8s.io/provider": "cluster-api"})
write(f"{out}/cluster-api/{capi_v}/core-components.yaml", docs)
write(f"{out}/cluster-api/{capi_v}/metadata.yaml", metadata(*series(capi_v)))

inv = [d for d in crds_of("cluster-api-v1.10", "clusterctl.cluster.x-k8s.io_providers")]
write(f"{out}/clusterctl-inventory.yaml", label(inv, {CLUSTERCTL: "", CLUSTERCTL + "/core": "inventory"}))

for provider, group in (("bootstrap", "bootstrap"), ("control-plane", "controlplane"),
                        ("infrastructure", "infrastructure")):
    lab = f"{provider}-k0sproject-k0smotron"
    ns = f"k0smotron-{provider}-system"
    docs = render("k0smotron-provider.yaml", PROVIDER=provider, NS=ns, LABEL=lab, VERSION=k0s_v)
    if provider == "control-plane":
        docs += render("k0smotron-control-plane-webhook.yaml", PROVIDER=provider, NS=ns, LABEL=lab)
    docs += crds_of("k0smotron-v1.10.0", f"{group}.cluster.x-k8s.io_")
    label(docs, {CLUSTERCTL: "", "cluster.x-k8s.io/provider": lab})
    write(f"{out}/{lab}/{k0s_v}/{provider}-components.yaml", docs)
    write(f"{out}/{lab}/{k0s_v}/metadata.yaml", metadata(*series(k0s_v)))

if certmgr:
    docs = []
    for p in sorted(glob.glob(os.path.join(certmgr, "*.yaml"))):
        docs += load(p)
    write(f"{out}/cert-manager/{cm_v}/cert-manager.yaml",
          label(docs, {CLUSTERCTL: "", CLUSTERCTL + "/core": "cert-manager"}))
PY

rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
