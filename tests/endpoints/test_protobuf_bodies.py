"""
Protobuf request bodies of the options and subresource types client-go programs send (issue 18,
item 1): C{DeleteOptions} in any group version (Helm deleting its release Secrets, C{kubectl drain
--disable-eviction}) on delete and deletecollection, and C{Eviction} (C{kubectl drain}).
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kapid.apimachinery import protodesc
from kapid.apimachinery.protobuf import decode
from tests.apimachinery.test_protobuf import _body, _lfield, _vfield
from tests.endpoints.helpers import API, cm, deployment

PROTOBUF = "application/vnd.kubernetes.protobuf"
CMS = "/api/v1/namespaces/default/configmaps"
DEPLOYS = "/apis/apps/v1/namespaces/default/deployments"
PODS = "/api/v1/namespaces/default/pods"


def delete_options(
    api_version: str = "v1",
    grace: int | None = None,
    uid: str | None = None,
    propagation: str | None = None,
    dry_run: tuple[str, ...] = (),
) -> bytes:
    """
    The message bytes of a C{DeleteOptions}, as gogo-protobuf writes them.
    """
    raw = b""
    if grace is not None:
        raw += _vfield(1, grace)
    if uid is not None:
        raw += _lfield(2, _lfield(1, uid))
    if propagation is not None:
        raw += _lfield(4, propagation)
    for d in dry_run:
        raw += _lfield(5, d)
    return raw


class DecodeTests(SynchronousTestCase):
    """
    The messages decode to their JSON forms.
    """

    def test_delete_options_any_group_version(self) -> None:
        raw = delete_options(grace=0, uid="u-1", propagation="Background", dry_run=("All",))
        for api_version in ("v1", "apps/v1", "batch/v1", "meta.k8s.io/v1"):
            self.assertEqual(decode(_body(api_version, "DeleteOptions", raw)), {
                "kind": "DeleteOptions",
                "apiVersion": api_version,
                "gracePeriodSeconds": 0,
                "preconditions": {"uid": "u-1"},
                "propagationPolicy": "Background",
                "dryRun": ["All"],
            })

    def test_eviction(self) -> None:
        raw = _lfield(1, _lfield(1, "p") + _lfield(3, "default")) + _lfield(2, delete_options(grace=5))
        for version in ("v1", "v1beta1"):
            self.assertEqual(decode(_body(f"policy/{version}", "Eviction", raw)), {
                "kind": "Eviction",
                "apiVersion": f"policy/{version}",
                "metadata": {"name": "p", "namespace": "default"},
                "deleteOptions": {"gracePeriodSeconds": 5},
            })

    def test_descriptions_complete(self) -> None:
        """
        Every message the new entries name is described.
        """
        for name in ("DeleteOptions", "Eviction", "Preconditions"):
            for _, typ, _, _ in protodesc.MESSAGES[name].values():
                if isinstance(typ, str) and typ[:1].isupper():
                    self.assertTrue(typ in protodesc.MESSAGES or typ in protodesc.SPECIAL, typ)


class EndpointTests(SynchronousTestCase):
    """
    Through the API.
    """

    def setUp(self) -> None:
        self.api = API(self)

    def delete(self, path: str, raw: bytes, api_version: str = "v1") -> tuple:
        return self.api.request(
            "DELETE", path, raw=_body(api_version, "DeleteOptions", raw), content_type=PROTOBUF
        )

    def test_delete_with_protobuf_options(self) -> None:
        """
        Helm's release storage: DELETE of a Secret-like object with a protobuf body.
        """
        self.api.post(CMS, cm("a", {"x": "y"}))
        code, body, _ = self.delete(CMS + "/a", delete_options(uid="not-its-uid"))
        self.assertEqual((code, body["reason"]), (409, "Conflict"))
        code, body, _ = self.delete(CMS + "/a", delete_options(grace=0, propagation="Background"))
        self.assertEqual((code, body["status"]), (200, "Success"))
        self.assertEqual(self.api.get(CMS + "/a")[0], 404)

    def test_options_honoured(self) -> None:
        """
        A dry run in protobuf options (apps/v1 DeleteOptions) deletes nothing.
        """
        self.api.post(DEPLOYS, deployment("web"))
        code, _, _ = self.delete(DEPLOYS + "/web", delete_options(dry_run=("All",)), "apps/v1")
        self.assertEqual(code, 200)
        self.assertEqual(self.api.get(DEPLOYS + "/web")[0], 200)

    def test_delete_collection(self) -> None:
        self.api.post(CMS, cm("a"))
        self.api.post(CMS, cm("b"))
        code, body, _ = self.delete(CMS, delete_options(grace=0))
        self.assertEqual(code, 200, body)
        self.assertEqual(self.api.get(CMS)[1]["items"], [])

    def test_eviction(self) -> None:
        """
        kubectl drain's protobuf Eviction evicts the pod.
        """
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
               "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
        self.assertEqual(self.api.post(PODS, pod)[0], 201)
        raw = _lfield(1, _lfield(1, "p") + _lfield(3, "default")) + _lfield(2, delete_options(grace=0))
        code, body, _ = self.api.request(
            "POST", PODS + "/p/eviction", raw=_body("policy/v1", "Eviction", raw), content_type=PROTOBUF
        )
        self.assertEqual(code, 201, body)
        self.assertEqual(self.api.get(PODS + "/p")[0], 404)

    def test_binding(self) -> None:
        """
        The scheduler's protobuf Binding assigns the pod to its node.
        """
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
               "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
        self.assertEqual(self.api.post(PODS, pod)[0], 201)
        raw = _lfield(1, _lfield(1, "p")) + _lfield(2, _lfield(1, "Node") + _lfield(3, "node-1"))
        code, body, _ = self.api.request(
            "POST", PODS + "/p/binding", raw=_body("v1", "Binding", raw), content_type=PROTOBUF
        )
        self.assertEqual(code, 201, body)
        self.assertEqual(self.api.get(PODS + "/p")[1]["spec"]["nodeName"], "node-1")

    def test_scale(self) -> None:
        """
        A protobuf autoscaling/v1 Scale PUT to a Deployment's scale subresource.
        """
        self.api.post(DEPLOYS, deployment("web"))
        raw = _lfield(1, _lfield(1, "web") + _lfield(3, "default")) + _lfield(2, _vfield(1, 3))
        code, body, _ = self.api.request(
            "PUT", DEPLOYS + "/web/scale", raw=_body("autoscaling/v1", "Scale", raw), content_type=PROTOBUF
        )
        self.assertEqual(code, 200, body)
        self.assertEqual(self.api.get(DEPLOYS + "/web")[1]["spec"]["replicas"], 3)

    def test_review_messages_decode(self) -> None:
        """
        TokenReview, SubjectAccessReview and LocalSubjectAccessReview bodies decode.
        """
        raw = _lfield(2, _lfield(1, "tok") + _lfield(2, "aud"))
        self.assertEqual(decode(_body("authentication.k8s.io/v1", "TokenReview", raw))["spec"],
                         {"token": "tok", "audiences": ["aud"]})
        attrs = _lfield(1, "default") + _lfield(2, "get") + _lfield(5, "pods")
        raw = _lfield(2, _lfield(1, attrs) + _lfield(3, "alice") + _lfield(4, "devs"))
        for kind in ("SubjectAccessReview", "LocalSubjectAccessReview"):
            self.assertEqual(decode(_body("authorization.k8s.io/v1", kind, raw))["spec"], {
                "resourceAttributes": {"namespace": "default", "verb": "get", "resource": "pods"},
                "user": "alice",
                "groups": ["devs"],
            })
