"""Tests for the built-in resource descriptions of core_cluster and the other groups."""

from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from kapid.apimachinery.schema import Schema
from kapid.registry.builtin import builtin_registry
from kapid.registry.interfaces import IRESTStrategy

MINE = (
    "core_cluster", "batch", "autoscaling", "coordination", "events", "discovery", "networking",
    "policy", "rbac", "storage", "scheduling", "node", "admissionregistration", "certificates",
)


def mine():
    """The resources described by this helper's modules."""
    import importlib

    out = []
    for m in MINE:
        out.extend(importlib.import_module(f"kapid.registry.builtin.{m}").RESOURCES)
    return out


class DescriptionTests(SynchronousTestCase):
    """Descriptions carry kube's facts and valid schemas."""

    def test_schemas(self):
        """Every version names a 1.33 definition whose GVK is the resource's kind."""
        for r in mine():
            for v in r.versions:
                s = Schema.of(v.schema)
                gvks = {(g["group"], g["version"], g["kind"]) for g in s.group_version_kinds}
                self.assertIn((r.group, v.name, r.kind), gvks, r.plural)

    def test_one_storage_version(self):
        """Each resource stores exactly one version."""
        for r in mine():
            self.assertEqual(sum(1 for v in r.versions if v.storage), 1, r.plural)

    def test_strategies(self):
        """Every description has a strategy providing IRESTStrategy."""
        for r in mine():
            self.assertTrue(verifyObject(IRESTStrategy, r.strategy), r.plural)

    def test_kube_layout(self):
        """Storage keys follow kube's etcd layout."""
        reg = builtin_registry()
        self.assertEqual(reg.lookup("", "v1", "services").key("ns", "a"), "/registry/services/specs/ns/a")
        self.assertEqual(reg.lookup("", "v1", "endpoints").key("ns", "a"), "/registry/services/endpoints/ns/a")
        self.assertEqual(reg.lookup("", "v1", "nodes").key("", "n"), "/registry/minions/n")
        self.assertEqual(reg.lookup("", "v1", "replicationcontrollers").key("ns", "a"), "/registry/controllers/ns/a")
        self.assertEqual(reg.lookup("networking.k8s.io", "v1", "ingresses").key("ns", "a"), "/registry/ingress/ns/a")
        self.assertEqual(reg.lookup("batch", "v1", "jobs").key("ns", "a"), "/registry/jobs/ns/a")

    def test_discovery_facts(self):
        """Short names, categories, scope and subresources as kube's discovery lists them."""
        reg = builtin_registry()
        svc = reg.lookup("", "v1", "services")
        self.assertEqual((svc.short_names, svc.categories), (("svc",), ("all",)))
        self.assertEqual(sorted(s.name for s in svc.subresources), ["proxy", "status"])
        sa = reg.lookup("", "v1", "serviceaccounts")
        tok = sa.subresource("token")
        self.assertEqual((tok.kind, tok.group, tok.version, tok.verbs), ("TokenRequest", "authentication.k8s.io", "v1", ("create",)))
        rc = reg.lookup("", "v1", "replicationcontrollers")
        self.assertEqual(rc.subresource("scale").kind, "Scale")
        self.assertFalse(reg.lookup("", "v1", "nodes").namespaced)
        hpa = reg.lookup("autoscaling", "v1", "horizontalpodautoscalers")
        self.assertEqual(hpa.storage_version.name, "v2")
        self.assertEqual([v.name for v in hpa.versions], ["v2", "v1"])
        self.assertEqual(reg.lookup("batch", "v1", "cronjobs").short_names, ("cj",))
        self.assertEqual(reg.lookup("policy", "v1", "poddisruptionbudgets").short_names, ("pdb",))
        self.assertEqual(
            reg.lookup("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations").categories,
            ("api-extensions",),
        )

    def test_field_selectors_and_tables(self):
        """Extra field selectors and table columns come with the descriptions."""
        reg = builtin_registry()
        nodes = reg.lookup("", "v1", "nodes")
        self.assertEqual(nodes.field_selectors["spec.unschedulable"]({"spec": {"unschedulable": True}}), "true")
        jobs = reg.lookup("batch", "v1", "jobs")
        self.assertEqual(jobs.field_selectors["status.successful"]({"status": {"succeeded": 2}}), "2")
        self.assertEqual([c.name for c in jobs.table_columns][:4], ["Status", "Completions", "Duration", "Age"])
        ev = reg.lookup("events.k8s.io", "v1", "events")
        self.assertEqual(ev.field_selectors["involvedObject.name"]({"regarding": {"name": "p"}}), "p")

    def test_job_strategy_generates_selector(self):
        """The Job strategy labels the template and selects on the job's uid at create."""
        jobs = builtin_registry().lookup("batch", "v1", "jobs")
        obj = {"metadata": {"name": "pi", "uid": "u"}, "spec": {"template": {"spec": {}}}, "status": {"x": 1}}
        jobs.strategy.prepare_for_create(obj)
        self.assertEqual(obj["spec"]["selector"], {"matchLabels": {"batch.kubernetes.io/controller-uid": "u"}})
        self.assertEqual(obj["status"], {})
        self.assertEqual(obj["metadata"]["generation"], 1)

    def test_create_on_update(self):
        """PUT creates services, endpoints, limit ranges and RBAC objects, as in kube."""
        reg = builtin_registry()
        for group, plural in (("", "services"), ("", "endpoints"), ("", "limitranges"),
                              ("rbac.authorization.k8s.io", "roles"), ("rbac.authorization.k8s.io", "clusterrolebindings")):
            self.assertTrue(reg.lookup(group, "v1", plural).strategy.allow_create_on_update, plural)
        self.assertFalse(reg.lookup("", "v1", "nodes").strategy.allow_create_on_update)
