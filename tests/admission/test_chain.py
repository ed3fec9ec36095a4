"""
Tests for the admission chain as the REST handlers run it (L{kapid.admission.request}): which
operation and attributes each write path produces, the order of mutating admission, strategy
validation and validating admission, dry runs, warnings and audit annotations, and that nothing is
stored on a denial.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from kapid.admission.chain import AdmissionChain
from kapid.admission.interfaces import Attributes, IMutatingAdmission, IValidatingAdmission, forbidden
from kapid.admission.plugins.namespace import NamespaceLifecycle
from kapid.admission.context import PluginContext
from kapid.admission.request import RequestAdmission
from tests.admission.helpers import Recorder, api_with
from tests.endpoints.helpers import cm, deployment

CMS = "/api/v1/namespaces/default/configmaps"
PODS = "/api/v1/namespaces/default/pods"
DEPLOYS = "/apis/apps/v1/namespaces/default/deployments"
MERGE = "application/merge-patch+json"
APPLY = "application/apply-patch+yaml"


def add_label(a: Attributes) -> None:
    if a.object is not None:
        a.object.setdefault("metadata", {}).setdefault("labels", {})["admitted"] = "yes"


def deny(message: str) -> Any:
    def refuse(a: Attributes) -> None:
        raise forbidden(a, message)

    return refuse


def pod(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


class InterfaceTests(SynchronousTestCase):
    """
    The shipped plugins and test plugins provide the interfaces.
    """

    def test_providers(self) -> None:
        """
        NamespaceLifecycle is a mutating plugin; the recorder is both.
        """
        self.assertTrue(verifyObject(IMutatingAdmission, NamespaceLifecycle(PluginContext())))
        r = Recorder()
        self.assertTrue(verifyObject(IMutatingAdmission, r))
        self.assertTrue(verifyObject(IValidatingAdmission, r))
        chain = AdmissionChain([NamespaceLifecycle(PluginContext()), r])
        self.assertEqual(chain.names, ["NamespaceLifecycle", "Recorder"])
        self.assertEqual(len(chain.mutating), 2)
        self.assertEqual(chain.validating, [r])


class CreateTests(SynchronousTestCase):
    """
    POST: mutating admission before the strategy, validating admission after it.
    """

    def test_mutation_is_stored_and_validating_sees_the_prepared_object(self) -> None:
        """
        A label added by a mutating plugin is stored; the mutating phase sees the object without
        uid (namespace set), the validating phase sees it prepared (uid, the label).
        """
        r = Recorder(on_admit=add_label)
        api = api_with(self, [r])
        code, body, _ = api.post(CMS, cm("a"))
        self.assertEqual(code, 201, body)
        self.assertEqual(body["metadata"]["labels"], {"admitted": "yes"})
        self.assertEqual(api.get(CMS + "/a")[1]["metadata"]["labels"], {"admitted": "yes"})
        self.assertEqual(r.phases(), [("admit", "CREATE"), ("validate", "CREATE")])
        admitted, validated = r.calls[0][1], r.calls[1][1]
        self.assertNotIn("uid", admitted.object["metadata"])
        self.assertEqual(admitted.object["metadata"]["namespace"], "default")
        self.assertEqual(validated.object["metadata"]["uid"], body["metadata"]["uid"])
        self.assertEqual(validated.object["metadata"]["labels"], {"admitted": "yes"})
        for a in (admitted, validated):
            self.assertEqual(a.kind, ("", "v1", "ConfigMap"))
            self.assertEqual(a.resource, ("", "v1", "configmaps"))
            self.assertEqual((a.namespace, a.name, a.subresource, a.dry_run), ("default", "a", "", False))
            self.assertEqual(a.options, {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"})
            self.assertIsNone(a.old_object)

    def test_generate_name(self) -> None:
        """
        With generateName, the mutating phase has no name yet; the validating one has the
        generated name.
        """
        r = Recorder()
        api = api_with(self, [r])
        code, body, _ = api.post(CMS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "x-"}})
        self.assertEqual(code, 201, body)
        self.assertEqual(r.calls[0][1].name, "")
        self.assertEqual(r.calls[1][1].name, body["metadata"]["name"])

    def test_mutating_denial_comes_before_validation(self) -> None:
        """
        A mutating plugin's 403 wins over the strategy's 422; nothing is stored.
        """
        api = api_with(self, [Recorder(on_admit=deny("no"))])
        code, body, _ = api.post(CMS, cm("Bad_Name"))
        self.assertEqual(code, 403, body)
        self.assertEqual(body["message"], 'configmaps "Bad_Name" is forbidden: no')

    def test_validation_comes_before_validating_admission(self) -> None:
        """
        The strategy's 422 wins over a validating plugin's 403, which is not even called.
        """
        r = Recorder(on_validate=deny("no"))
        api = api_with(self, [r])
        code, body, _ = api.post(CMS, cm("Bad_Name"))
        self.assertEqual(code, 422, body)
        self.assertEqual(r.phases(), [("admit", "CREATE")])
        code, body, _ = api.post(CMS, cm("good"))
        self.assertEqual(code, 403)
        self.assertEqual(body["message"], 'configmaps "good" is forbidden: no')
        self.assertEqual(api.get(CMS + "/good")[0], 404)

    def test_dry_run(self) -> None:
        """
        A dry run is admitted with dryRun true and CreateOptions naming it; nothing is stored.
        """
        r = Recorder(on_admit=add_label)
        api = api_with(self, [r])
        code, body, _ = api.post(CMS + "?dryRun=All&fieldManager=me", cm("a"))
        self.assertEqual(code, 201, body)
        self.assertEqual(body["metadata"]["labels"], {"admitted": "yes"})
        self.assertTrue(all(a.dry_run for _, a in r.calls))
        self.assertEqual(
            r.calls[0][1].options,
            {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1", "dryRun": ["All"], "fieldManager": "me"},
        )
        self.assertEqual(api.get(CMS + "/a")[0], 404)

    def test_warnings_and_audit_annotations(self) -> None:
        """
        Warnings a plugin adds are Warning headers (once each, also on a denial); annotations
        reach the request's audit annotations.
        """
        def warn(a: Attributes) -> None:
            a.add_warning("careful")
            a.add_warning("careful")
            a.add_annotation("example.com/seen", "yes")

        api = api_with(self, [Recorder(on_admit=warn)])
        code, _, headers = api.post(CMS, cm("a"))
        self.assertEqual(code, 201)
        self.assertEqual(headers.getRawHeaders("warning"), ['299 - "careful"'])

        def warn_then_deny(a: Attributes) -> None:
            a.add_warning("first")
            raise forbidden(a, "no")

        api = api_with(self, [Recorder(on_admit=warn_then_deny)])
        code, _, headers = api.post(CMS, cm("b"))
        self.assertEqual(code, 403)
        self.assertEqual(headers.getRawHeaders("warning"), ['299 - "first"'])

    def test_annotations_reach_the_request(self) -> None:
        """
        L{RequestAdmission} hands each phase's annotations on.
        """
        seen: list[dict] = []

        def note(a: Attributes) -> None:
            a.add_annotation("k/a", "1")

        from kapid.endpoints.request import Target

        api = api_with(self, [Recorder(on_admit=note, on_validate=note)])
        res = api.registry.lookup("", "v1", "configmaps")
        adm = RequestAdmission(api.link.admission, Target(res, "v1", "default", "x", ""), on_annotations=seen.append)
        api.run(Deferred.fromCoroutine(adm.both(cm("x"), None, "CREATE")))
        self.assertEqual(seen, [{"k/a": "1"}, {"k/a": "1"}])


class UpdateTests(SynchronousTestCase):
    """
    PUT, PATCH and apply: mutating admission in the update, validating after validation.
    """

    def setUp(self) -> None:
        self.r = Recorder(on_admit=add_label)
        self.api = api_with(self, [self.r])
        self.api.post(CMS, cm("a", {"k": "1"}))
        self.r.calls.clear()

    def test_put(self) -> None:
        """
        A PUT is an UPDATE with the current object as oldObject and UpdateOptions.
        """
        _, cur, _ = self.api.get(CMS + "/a")
        cur["data"] = {"k": "2"}
        cur["metadata"].pop("labels", None)
        code, body, _ = self.api.put(CMS + "/a", cur)
        self.assertEqual(code, 200, body)
        self.assertEqual(body["metadata"]["labels"], {"admitted": "yes"})
        self.assertEqual(self.r.phases(), [("admit", "UPDATE"), ("validate", "UPDATE")])
        a = self.r.calls[0][1]
        self.assertEqual(a.old_object["data"], {"k": "1"})
        self.assertEqual(a.object["data"], {"k": "2"})
        self.assertEqual(a.options["kind"], "UpdateOptions")

    def test_patch_and_denial_stores_nothing(self) -> None:
        """
        A merge patch is admitted as an UPDATE; a validating denial leaves the object as it was.
        """
        code, body, _ = self.api.patch(CMS + "/a", {"data": {"k": "3"}}, MERGE)
        self.assertEqual(code, 200, body)
        self.assertEqual(self.r.phases(), [("admit", "UPDATE"), ("validate", "UPDATE")])
        self.r.on_validate = deny("frozen")
        code, body, _ = self.api.patch(CMS + "/a", {"data": {"k": "4"}}, MERGE)
        self.assertEqual(code, 403)
        self.assertEqual(body["message"], 'configmaps "a" is forbidden: frozen')
        self.assertEqual(self.api.get(CMS + "/a")[1]["data"], {"k": "3"})

    def test_invalid_update_is_422_before_validating_admission(self) -> None:
        """
        An update the strategy refuses never reaches validating admission.
        """
        self.r.on_validate = deny("no")
        code, body, _ = self.api.patch(CMS + "/a", {"metadata": {"labels": {"bad key!": "x"}}}, MERGE)
        self.assertEqual(code, 422, body)
        self.assertEqual(self.r.phases(), [("admit", "UPDATE")])

    def test_apply_create_is_a_create(self) -> None:
        """
        Server-side apply of a new object is admitted as a CREATE.
        """
        body = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: n\ndata:\n  a: b\n"
        code, out, _ = self.api.request("PATCH", CMS + "/n?fieldManager=t", raw=body, content_type=APPLY)
        self.assertEqual(code, 201, out)
        self.assertEqual(self.r.phases(), [("admit", "CREATE"), ("validate", "CREATE")])
        self.assertEqual(out["metadata"]["labels"], {"admitted": "yes"})
        self.assertEqual(self.r.calls[0][1].options["kind"], "CreateOptions")

    def test_status_subresource(self) -> None:
        """
        A status write is admitted with subresource status and the main kind.
        """
        self.api.post(DEPLOYS, deployment("web"))
        self.r.calls.clear()
        code, body, _ = self.api.patch(DEPLOYS + "/web/status", {"status": {"replicas": 1}}, MERGE)
        self.assertEqual(code, 200, body)
        a = self.r.calls[0][1]
        self.assertEqual((a.kind, a.subresource, a.operation), (("apps", "v1", "Deployment"), "status", "UPDATE"))

    def test_scale_subresource(self) -> None:
        """
        A scale write is admitted with autoscaling/v1 Scales; a mutating plugin's replicas win.
        """
        self.api.post(DEPLOYS, deployment("web", replicas=2))
        self.r.calls.clear()

        def five(a: Attributes) -> None:
            a.object["spec"]["replicas"] = 5

        self.r.on_admit = five
        code, body, _ = self.api.patch(DEPLOYS + "/web/scale", {"spec": {"replicas": 3}}, MERGE)
        self.assertEqual(code, 200, body)
        self.assertEqual(body["spec"]["replicas"], 5)
        self.assertEqual(self.api.get(DEPLOYS + "/web")[1]["spec"]["replicas"], 5)
        a = self.r.calls[0][1]
        self.assertEqual((a.kind, a.subresource), (("autoscaling", "v1", "Scale"), "scale"))
        self.assertEqual(a.old_object["spec"], {"replicas": 2})
        self.assertEqual(self.r.calls[1][1].object["spec"], {"replicas": 5})


class DeleteTests(SynchronousTestCase):
    """
    DELETE and deletecollection: both phases with the current object as oldObject.
    """

    def test_delete(self) -> None:
        """
        A DELETE is admitted (mutating, then validating) with oldObject and DeleteOptions; a
        denial keeps the object.
        """
        r = Recorder()
        api = api_with(self, [r])
        api.post(CMS, cm("a"))
        r.calls.clear()
        r.on_validate = deny("keep")
        code, body, _ = api.delete(CMS + "/a")
        self.assertEqual(code, 403)
        self.assertEqual(body["message"], 'configmaps "a" is forbidden: keep')
        self.assertEqual(r.phases(), [("admit", "DELETE"), ("validate", "DELETE")])
        a = r.calls[0][1]
        self.assertIsNone(a.object)
        self.assertEqual(a.old_object["metadata"]["name"], "a")
        self.assertEqual(a.options, {"kind": "DeleteOptions", "apiVersion": "meta.k8s.io/v1"})
        self.assertEqual(api.get(CMS + "/a")[0], 200)
        r.on_validate = None
        self.assertEqual(api.delete(CMS + "/a?dryRun=All")[0], 200)
        self.assertTrue(r.calls[-1][1].dry_run)
        self.assertEqual(api.get(CMS + "/a")[0], 200)

    def test_delete_collection(self) -> None:
        """
        deletecollection admits each object with an empty name (kube's static attributes).
        """
        r = Recorder()
        api = api_with(self, [r])
        api.post(CMS, cm("a"))
        api.post(CMS, cm("b"))
        r.calls.clear()
        code, _, _ = api.delete(CMS)
        self.assertEqual(code, 200)
        self.assertEqual(sorted(a.old_object["metadata"]["name"] for p, a in r.calls if p == "admit"), ["a", "b"])
        self.assertEqual({a.name for _, a in r.calls}, {""})


class SubresourceActionTests(SynchronousTestCase):
    """
    Pod binding, eviction, exec: their own kinds.
    """

    def test_binding_eviction_exec(self) -> None:
        """
        binding is a CREATE of a Binding, eviction of an Eviction, exec a CONNECT of
        PodExecOptions; a denial stops each.
        """
        r = Recorder()
        api = api_with(self, [r])
        self.assertEqual(api.post(PODS, pod("p"))[0], 201)
        r.calls.clear()
        binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"}, "target": {"kind": "Node", "name": "n"}}
        self.assertEqual(api.post(PODS + "/p/binding", binding)[0], 201)
        a = r.calls[0][1]
        self.assertEqual((a.operation, a.kind[2], a.subresource), ("CREATE", "Binding", "binding"))
        r.calls.clear()
        r.on_validate = deny("no exec")
        code, body, _ = api.post(PODS + "/p/exec?command=ls&stdout=true&container=c", None)
        self.assertEqual(code, 403, body)
        a = r.calls[0][1]
        self.assertEqual((a.operation, a.kind), ("CONNECT", ("", "v1", "PodExecOptions")))
        self.assertEqual(a.object["command"], ["ls"])
        self.assertTrue(a.object["stdout"])
        code, body, _ = api.post(PODS + "/p/eviction", {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "p"}})
        self.assertEqual(code, 403, body)
        self.assertEqual(r.calls[-1][1].kind[2], "Eviction")
        self.assertEqual(api.get(PODS + "/p")[0], 200)


class EveryPluginTests(SynchronousTestCase):
    """
    Every registered plugin provides the interfaces it claims.
    """

    def test_verify_every_plugin(self) -> None:
        """
        Each plugin kapid builds from a name is a mutating or validating plugin (checked with
        verifyObject) named as kube names it.
        """
        from kapid.admission.chain import PLUGINS, load_plugins
        from kapid.options.admission import KNOWN_PLUGINS

        load_plugins()
        self.assertGreater(len(PLUGINS), 10)
        for name, factory in PLUGINS.items():
            self.assertIn(name, KNOWN_PLUGINS)
            plugin = factory(PluginContext(), None)
            self.assertEqual(plugin.name, name)
            provided = [i for i in (IMutatingAdmission, IValidatingAdmission) if i.providedBy(plugin)]
            self.assertTrue(provided, name)
            for i in provided:
                self.assertTrue(verifyObject(i, plugin))


class ReinvocationTests(SynchronousTestCase):
    """
    kube's reinvoker.
    """

    def test_second_pass(self) -> None:
        """
        A plugin asking for reinvocation makes every mutating plugin run once more (with
        reinvoking set), the validating ones once.
        """
        def ask(a: Attributes) -> None:
            if not a.reinvoking:
                a.reinvoke_requested = True

        first, second = Recorder("First"), Recorder("Second", on_admit=ask)
        api = api_with(self, [first, second])
        self.assertEqual(api.post(CMS, cm("a"))[0], 201)
        self.assertEqual(first.phases(), [("admit", "CREATE"), ("admit", "CREATE"), ("validate", "CREATE")])
        self.assertEqual([a.reinvoking for p, a in first.calls if p == "admit"], [False, True])
