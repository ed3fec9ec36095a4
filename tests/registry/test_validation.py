"""Tests for kapid.registry.validation: kube's rules, paths and messages."""

import copy

from twisted.trial.unittest import SynchronousTestCase

from kapid.apimachinery.status import invalid
from kapid.registry.defaults import apply_defaults
from kapid.registry.validation import validate


def deployment(labels=None, selector=None):
    """A defaulted Deployment."""
    d = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": selector if selector is not None else {"app": "x"}},
            "template": {
                "metadata": {"labels": labels if labels is not None else {"app": "x"}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            },
        },
    }
    apply_defaults("apps", "v1", "Deployment", d)
    return d


def strs(errs):
    """The errors as kube prints them."""
    return [str(e) for e in errs]


class DeploymentTests(SynchronousTestCase):
    """apps/v1 Deployment rules."""

    def test_valid(self):
        """A defaulted Deployment is valid."""
        self.assertEqual(validate("apps", "Deployment", deployment()), [])

    def test_selector_mismatch(self):
        """A selector that does not select the template is rejected like kube does."""
        errs = validate("apps", "Deployment", deployment(labels={"app": "y"}))
        self.assertEqual(
            strs(errs),
            ['spec.template.metadata.labels: Invalid value: map[string]string{"app":"y"}: '
             "`selector` does not match template `labels`"],
        )

    def test_empty_selector(self):
        """An empty selector is invalid for a deployment."""
        errs = validate("apps", "Deployment", deployment(selector={}))
        self.assertIn(
            "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{}, "
            "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for "
            "deployment",
            strs(errs),
        )

    def test_replicas_and_containers(self):
        """Negative replicas, missing image, bad container name, duplicate names, bad port."""
        d = deployment()
        d["spec"]["replicas"] = -1
        d["spec"]["template"]["spec"]["containers"] = [
            {"name": "Bad_Name", "image": "x", "ports": [{"containerPort": 70000, "protocol": "TCP"}]},
            {"name": "ok"},
            {"name": "ok", "image": "x"},
        ]
        errs = strs(validate("apps", "Deployment", d))
        self.assertIn("spec.replicas: Invalid value: -1: must be greater than or equal to 0", errs)
        self.assertIn(
            'spec.template.spec.containers[0].name: Invalid value: "Bad_Name": a lowercase RFC 1123 '
            "label must consist of lower case alphanumeric characters or '-', and must start and end "
            "with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation "
            "is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
            errs,
        )
        self.assertIn(
            "spec.template.spec.containers[0].ports[0].containerPort: Invalid value: 70000: "
            "must be between 1 and 65535, inclusive",
            errs,
        )
        self.assertIn("spec.template.spec.containers[1].image: Required value", errs)
        self.assertIn('spec.template.spec.containers[2].name: Duplicate value: "ok"', errs)

    def test_restart_policy(self):
        """Deployment templates must restart Always."""
        d = deployment()
        d["spec"]["template"]["spec"]["restartPolicy"] = "Never"
        self.assertEqual(
            strs(validate("apps", "Deployment", d)),
            ['spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: '
             '"Always"'],
        )

    def test_selector_immutable(self):
        """A Deployment's selector cannot change."""
        old = deployment()
        new = deployment(labels={"app": "y"}, selector={"app": "y"})
        self.assertEqual(
            strs(validate("apps", "Deployment", new, old)),
            ['spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"y"}, '
             "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"],
        )

    def test_status_body(self):
        """The errors make kube's 422 Invalid message."""
        errs = validate("apps", "Deployment", deployment(labels={"app": "y"}))
        err = invalid("Deployment", "d", errs, group="apps")
        self.assertEqual(err.code, 422)
        self.assertIn('Deployment.apps "d" is invalid: spec.template.metadata.labels', err.message)


class CoreTests(SynchronousTestCase):
    """core/v1 rules."""

    def test_service(self):
        """Service port range, missing ports and duplicate names."""
        svc = {"spec": {"ports": [{"port": 0, "protocol": "TCP"}]}}
        apply_defaults("", "v1", "Service", svc)
        self.assertIn(
            "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
            strs(validate("", "Service", svc)),
        )
        svc = {"spec": {}}
        apply_defaults("", "v1", "Service", svc)
        self.assertEqual(strs(validate("", "Service", svc)), ["spec.ports: Required value"])
        svc = {"spec": {"ports": [{"port": 80}, {"port": 81}]}}
        apply_defaults("", "v1", "Service", svc)
        self.assertEqual(strs(validate("", "Service", svc)), ["spec.ports[0].name: Required value", "spec.ports[1].name: Required value"])

    def test_service_cluster_ip_immutable(self):
        """Changing a Service's cluster IP is refused with kube's message."""
        old = {"spec": {"type": "ClusterIP", "clusterIP": "10.0.0.5", "clusterIPs": ["10.0.0.5"], "ports": [{"port": 80, "protocol": "TCP"}]}}
        new = copy.deepcopy(old)
        new["spec"]["clusterIP"] = "10.0.0.6"
        new["spec"]["clusterIPs"] = ["10.0.0.6"]
        self.assertEqual(
            strs(validate("", "Service", new, old)),
            ['spec.clusterIPs[0]: Invalid value: []string{"10.0.0.6"}: may not change once set'],
        )

    def test_service_cluster_ips_follow_cluster_ip(self):
        """An update whose clusterIP and clusterIPs[0] differ is refused, never stored half-changed."""
        old = {"spec": {"type": "ClusterIP", "clusterIP": "10.0.0.5", "clusterIPs": ["10.0.0.5"], "ports": [{"port": 80, "protocol": "TCP"}]}}
        new = copy.deepcopy(old)
        new["spec"]["clusterIP"] = "10.0.0.6"
        self.assertEqual(
            strs(validate("", "Service", new, old)),
            ['spec.clusterIPs: Invalid value: []string{"10.0.0.5"}: first value must match `clusterIP`'],
        )
        del new["spec"]["clusterIP"]
        self.assertEqual(
            strs(validate("", "Service", new, old)),
            ['spec.clusterIPs: Invalid value: []string{"10.0.0.5"}: must be empty when `clusterIP` is not specified'],
        )

    def test_configmap_keys(self):
        """ConfigMap keys must be config keys."""
        self.assertEqual(
            strs(validate("", "ConfigMap", {"data": {"a b": "x", "ok.key": "y"}})),
            ['data[a b]: Invalid value: "a b": a valid config key must consist of alphanumeric '
             "characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex "
             "used for validation is '[-._a-zA-Z0-9]+')"],
        )

    def test_configmap_immutable(self):
        """An immutable ConfigMap's data cannot change."""
        old = {"immutable": True, "data": {"a": "1"}}
        new = {"immutable": True, "data": {"a": "2"}}
        self.assertEqual(
            strs(validate("", "ConfigMap", new, old)),
            ["data: Forbidden: field is immutable when `immutable` is set"],
        )

    def test_secret_types(self):
        """TLS secrets need their keys and the type is immutable."""
        errs = strs(validate("", "Secret", {"type": "kubernetes.io/tls", "data": {}}))
        self.assertEqual(errs, ["data[tls.crt]: Required value", "data[tls.key]: Required value"])
        errs = strs(validate("", "Secret", {"type": "Opaque"}, {"type": "kubernetes.io/basic-auth"}))
        self.assertEqual(errs, ['type: Invalid value: "Opaque": field is immutable'])

    def test_pod_update(self):
        """A pod's spec may only change in kube's few mutable fields."""
        pod = {"spec": {"containers": [{"name": "c", "image": "a"}]}}
        apply_defaults("", "v1", "Pod", pod)
        new = copy.deepcopy(pod)
        new["spec"]["containers"][0]["image"] = "b"
        self.assertEqual(validate("", "Pod", new, pod), [])
        new["spec"]["restartPolicy"] = "Never"
        errs = strs(validate("", "Pod", new, pod))
        self.assertEqual(len(errs), 1)
        self.assertTrue(errs[0].startswith("spec: Forbidden: pod updates may not change fields other than"))

    def test_pod_required(self):
        """A pod without containers and with a bad restart policy."""
        pod = {"spec": {"restartPolicy": "Sometimes"}}
        self.assertEqual(
            strs(validate("", "Pod", pod)),
            ["spec.containers: Required value",
             'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", '
             '"OnFailure", "Never"'],
        )


class BatchTests(SynchronousTestCase):
    """batch/v1 rules."""

    def job(self):
        """A defaulted Job with a generated selector."""
        j = {
            "metadata": {"name": "pi", "uid": "u"},
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "perl"}], "restartPolicy": "Never"}}},
        }
        apply_defaults("batch", "v1", "Job", j)
        return j

    def test_valid(self):
        """A defaulted Job is valid."""
        self.assertEqual(validate("batch", "Job", self.job()), [])

    def test_restart_policy(self):
        """Jobs refuse restartPolicy Always with kube's message."""
        j = self.job()
        j["spec"]["template"]["spec"]["restartPolicy"] = "Always"
        self.assertEqual(
            strs(validate("batch", "Job", j)),
            ['spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: '
             '"OnFailure", "Never"'],
        )

    def test_immutable(self):
        """A running Job's template and selector cannot change."""
        old = self.job()
        new = copy.deepcopy(old)
        new["spec"]["template"]["spec"]["containers"][0]["image"] = "other"
        self.assertEqual(
            strs(validate("batch", "Job", new, old)),
            ["spec.template: Invalid value: core.PodTemplateSpec{...}: field is immutable"],
        )

    def test_cronjob(self):
        """CronJob schedule and name length."""
        cj = {
            "metadata": {"name": "x" * 53},
            "spec": {"schedule": "61 * * * *", "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}], "restartPolicy": "OnFailure"}}}}},
        }
        apply_defaults("batch", "v1", "CronJob", cj)
        self.assertEqual(
            strs(validate("batch", "CronJob", cj)),
            ['metadata.name: Invalid value: "' + "x" * 53 + '": must be no more than 52 characters',
             'spec.schedule: Invalid value: "61 * * * *": end of range (61) above maximum (59): 61'],
        )


class ResourcesTests(SynchronousTestCase):
    """Container resource requirements."""

    def test_request_above_limit(self):
        """A request above its limit is refused with kube's message."""
        pod = {"spec": {"containers": [{"name": "c", "image": "i", "resources": {
            "limits": {"cpu": "100m", "memory": "1Gi"}, "requests": {"cpu": "0.2", "memory": "512Mi"}}}]}}
        self.assertEqual(
            strs(validate("", "Pod", pod)),
            ['spec.containers[0].resources.requests: Invalid value: "0.2": must be less than or equal '
             "to cpu limit of 100m"],
        )

    def test_quantities(self):
        """Quantities compare exactly across suffixes."""
        from kapid.registry.validation.core import parse_quantity

        self.assertEqual(parse_quantity("100m"), parse_quantity("0.1"))
        self.assertEqual(parse_quantity("1Ki"), 1024)
        self.assertEqual(parse_quantity("1e3"), 1000)
        self.assertIsNone(parse_quantity("lots"))
