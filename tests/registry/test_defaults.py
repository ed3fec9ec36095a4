"""Tests for kapid.registry.defaults (facts from kube's defaults.go files)."""

from twisted.trial.unittest import SynchronousTestCase

from kapid.registry.defaults import apply_defaults, image_pull_policy


def template(**spec):
    """A pod template with one container."""
    s = {"containers": [{"name": "c", "image": "nginx:1.25", "ports": [{"containerPort": 80}]}]}
    s.update(spec)
    return {"metadata": {"labels": {"a": "b"}}, "spec": s}


class PodDefaultsTests(SynchronousTestCase):
    """Pod and pod template defaults."""

    def test_image_pull_policy(self):
        """Untagged and :latest images pull Always; tags and digests IfNotPresent."""
        self.assertEqual(image_pull_policy("nginx"), "Always")
        self.assertEqual(image_pull_policy("nginx:latest"), "Always")
        self.assertEqual(image_pull_policy("localhost:5000/nginx"), "Always")
        self.assertEqual(image_pull_policy("nginx:1.25"), "IfNotPresent")
        self.assertEqual(image_pull_policy("nginx@sha256:abc"), "IfNotPresent")

    def test_pod(self):
        """A Pod gets kube's pod spec and container defaults, and enableServiceLinks."""
        pod = {"metadata": {"name": "p"}, "spec": template()["spec"]}
        apply_defaults("", "v1", "Pod", pod)
        spec = pod["spec"]
        self.assertEqual(
            {k: v for k, v in spec.items() if k != "containers"},
            {
                "dnsPolicy": "ClusterFirst",
                "restartPolicy": "Always",
                "securityContext": {},
                "terminationGracePeriodSeconds": 30,
                "schedulerName": "default-scheduler",
                "enableServiceLinks": True,
            },
        )
        self.assertEqual(
            spec["containers"][0],
            {
                "name": "c",
                "image": "nginx:1.25",
                "imagePullPolicy": "IfNotPresent",
                "ports": [{"containerPort": 80, "protocol": "TCP"}],
                "resources": {},
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
            },
        )

    def test_explicit_kept(self):
        """Values the user set are not overwritten."""
        pod = {"spec": template(restartPolicy="Never", terminationGracePeriodSeconds=0)["spec"]}
        apply_defaults("", "v1", "Pod", pod)
        self.assertEqual(pod["spec"]["restartPolicy"], "Never")
        self.assertEqual(pod["spec"]["terminationGracePeriodSeconds"], 0)

    def test_probe_and_volume(self):
        """Probes get their thresholds; a volume without source becomes emptyDir; modes 420."""
        t = template(volumes=[{"name": "a"}, {"name": "b", "configMap": {"name": "x"}}])
        t["spec"]["containers"][0]["livenessProbe"] = {"httpGet": {"port": 80}}
        pod = {"spec": t["spec"]}
        apply_defaults("", "v1", "Pod", pod)
        self.assertEqual(
            pod["spec"]["containers"][0]["livenessProbe"],
            {
                "httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
                "timeoutSeconds": 1,
                "periodSeconds": 10,
                "successThreshold": 1,
                "failureThreshold": 3,
            },
        )
        self.assertEqual(pod["spec"]["volumes"][0], {"name": "a", "emptyDir": {}})
        self.assertEqual(pod["spec"]["volumes"][1]["configMap"]["defaultMode"], 420)

    def test_requests_from_limits(self):
        """A pod's container requests default to its limits."""
        t = template()
        t["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "1"}}
        pod = {"spec": t["spec"]}
        apply_defaults("", "v1", "Pod", pod)
        self.assertEqual(
            pod["spec"]["containers"][0]["resources"],
            {"limits": {"cpu": "1"}, "requests": {"cpu": "1"}},
        )


class WorkloadDefaultsTests(SynchronousTestCase):
    """apps/v1 and batch/v1 defaults."""

    def test_deployment(self):
        """Deployment gets replicas 1, RollingUpdate 25%/25%, 10 revisions, 600s deadline."""
        d = {"spec": {"selector": {"matchLabels": {"a": "b"}}, "template": template()}}
        apply_defaults("apps", "v1", "Deployment", d)
        spec = d["spec"]
        self.assertEqual(spec["replicas"], 1)
        self.assertEqual(
            spec["strategy"],
            {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
        )
        self.assertEqual(spec["revisionHistoryLimit"], 10)
        self.assertEqual(spec["progressDeadlineSeconds"], 600)
        self.assertNotIn("enableServiceLinks", spec["template"]["spec"])
        self.assertEqual(spec["template"]["spec"]["schedulerName"], "default-scheduler")

    def test_recreate(self):
        """A Recreate Deployment gets no rollingUpdate block."""
        d = {"spec": {"strategy": {"type": "Recreate"}, "template": template()}}
        apply_defaults("apps", "v1", "Deployment", d)
        self.assertEqual(d["spec"]["strategy"], {"type": "Recreate"})

    def test_statefulset_daemonset(self):
        """StatefulSet and DaemonSet update strategies and claim templates get their defaults."""
        s = {"spec": {"template": template(), "volumeClaimTemplates": [{"spec": {}}]}}
        apply_defaults("apps", "v1", "StatefulSet", s)
        self.assertEqual(s["spec"]["podManagementPolicy"], "OrderedReady")
        self.assertEqual(
            s["spec"]["updateStrategy"], {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
        )
        self.assertEqual(
            s["spec"]["persistentVolumeClaimRetentionPolicy"],
            {"whenDeleted": "Retain", "whenScaled": "Retain"},
        )
        self.assertEqual(
            s["spec"]["volumeClaimTemplates"][0],
            {"spec": {"volumeMode": "Filesystem"}, "status": {"phase": "Pending"}},
        )
        ds = {"spec": {"template": template()}}
        apply_defaults("apps", "v1", "DaemonSet", ds)
        self.assertEqual(
            ds["spec"]["updateStrategy"],
            {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
        )
        self.assertEqual(ds["spec"]["revisionHistoryLimit"], 10)

    def test_job(self):
        """A Job gets kube's spec defaults and the generated selector and labels."""
        j = {"metadata": {"name": "pi", "uid": "u1"}, "spec": {"template": template()}}
        apply_defaults("batch", "v1", "Job", j)
        spec = j["spec"]
        self.assertEqual(
            {k: v for k, v in spec.items() if k != "template"},
            {
                "completions": 1,
                "parallelism": 1,
                "backoffLimit": 6,
                "completionMode": "NonIndexed",
                "suspend": False,
                "podReplacementPolicy": "TerminatingOrFailed",
                "manualSelector": False,
                "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u1"}},
            },
        )
        self.assertEqual(
            spec["template"]["metadata"]["labels"],
            {
                "a": "b",
                "batch.kubernetes.io/controller-uid": "u1",
                "batch.kubernetes.io/job-name": "pi",
                "controller-uid": "u1",
                "job-name": "pi",
            },
        )
        self.assertEqual(spec["template"]["spec"]["restartPolicy"], "Always")

    def test_cronjob(self):
        """A CronJob gets its policy and history defaults."""
        c = {"spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": template()}}}}
        apply_defaults("batch", "v1", "CronJob", c)
        spec = c["spec"]
        self.assertEqual(spec["concurrencyPolicy"], "Allow")
        self.assertIs(spec["suspend"], False)
        self.assertEqual(spec["successfulJobsHistoryLimit"], 3)
        self.assertEqual(spec["failedJobsHistoryLimit"], 1)
        self.assertNotIn("backoffLimit", spec["jobTemplate"]["spec"])
        self.assertEqual(spec["jobTemplate"]["spec"]["template"]["spec"]["dnsPolicy"], "ClusterFirst")


class CoreDefaultsTests(SynchronousTestCase):
    """Services, secrets, namespaces, volumes."""

    def test_service(self):
        """A Service gets type, affinity, families, traffic policy and target ports."""
        s = {"spec": {"selector": {"a": "b"}, "ports": [{"port": 80}]}}
        apply_defaults("", "v1", "Service", s)
        self.assertEqual(
            s["spec"],
            {
                "selector": {"a": "b"},
                "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}],
                "sessionAffinity": "None",
                "type": "ClusterIP",
                "internalTrafficPolicy": "Cluster",
                "ipFamilyPolicy": "SingleStack",
                "ipFamilies": ["IPv4"],
            },
        )

    def test_nodeport(self):
        """NodePort Services get externalTrafficPolicy Cluster."""
        s = {"spec": {"type": "NodePort", "ports": [{"port": 80, "targetPort": "http"}]}}
        apply_defaults("", "v1", "Service", s)
        self.assertEqual(s["spec"]["externalTrafficPolicy"], "Cluster")
        self.assertEqual(s["spec"]["ports"][0]["targetPort"], "http")

    def test_misc(self):
        """Secret type, namespace label and phase, PVC and PV defaults."""
        sec = {}
        apply_defaults("", "v1", "Secret", sec)
        self.assertEqual(sec["type"], "Opaque")
        ns = {"metadata": {"name": "x"}}
        apply_defaults("", "v1", "Namespace", ns)
        self.assertEqual(ns["metadata"]["labels"], {"kubernetes.io/metadata.name": "x"})
        self.assertEqual(ns["status"], {"phase": "Active"})
        pv = {"spec": {}}
        apply_defaults("", "v1", "PersistentVolume", pv)
        self.assertEqual(
            pv,
            {
                "spec": {"persistentVolumeReclaimPolicy": "Retain", "volumeMode": "Filesystem"},
                "status": {"phase": "Pending"},
            },
        )

    def test_unknown_kind(self):
        """Kinds without defaults are left alone."""
        cm = {"data": {"a": "b"}}
        apply_defaults("", "v1", "ConfigMap", cm)
        self.assertEqual(cm, {"data": {"a": "b"}})


class StatusZeroTests(SynchronousTestCase):
    """
    Status counters kube always writes (no omitempty in their JSON tags).
    """

    def test_workload_status_counters(self) -> None:
        """
        StatefulSet, DaemonSet and ReplicaSet status get their zero counters; set ones stay.
        """
        from kapid.registry.defaults import apply_defaults

        sts = {"spec": {}, "status": {"replicas": 2}}
        apply_defaults("apps", "v1", "StatefulSet", sts)
        self.assertEqual(sts["status"], {"replicas": 2, "availableReplicas": 0})
        ds = {"spec": {}}
        apply_defaults("apps", "v1", "DaemonSet", ds)
        self.assertEqual(ds["status"], {"currentNumberScheduled": 0, "numberMisscheduled": 0,
                                        "desiredNumberScheduled": 0, "numberReady": 0})
        rs = {"spec": {}}
        apply_defaults("apps", "v1", "ReplicaSet", rs)
        self.assertEqual(rs["status"], {"replicas": 0})
