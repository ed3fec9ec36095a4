"""Tests for kapid.registry.tables: kube's columns and cells."""

from twisted.trial.unittest import SynchronousTestCase

from kapid.apimachinery.meta import parse_timestamp
from kapid.registry.tables import cells, columns_for, human_duration

CREATED = "2024-01-01T00:00:00Z"
NOW = parse_timestamp(CREATED) + 300


def header(group, kind, wide=False):
    """Column names as kubectl prints them (upper-cased), Name first."""
    cols = columns_for(group, kind)
    names = [c.name for c in cols if wide or c.priority == 0]
    if not any(c.format == "name" for c in cols):
        names = ["Name"] + names
    return " ".join(n.upper() for n in names)


def row(group, kind, obj):
    """The cells of an object at NOW."""
    return cells(columns_for(group, kind), obj, NOW)


class HumanDurationTests(SynchronousTestCase):
    """kube's HumanDuration."""

    def test_values(self):
        """Seconds, minutes, hours, days and years read like kubectl's ages."""
        cases = {
            -5: "<invalid>", 0: "0s", 119: "119s", 120: "2m", 130: "2m10s", 600: "10m",
            3 * 3600 + 4 * 60: "3h4m", 10 * 3600: "10h", 2 * 86400 + 3 * 3600: "2d3h",
            20 * 86400: "20d", 3 * 365 * 86400: "3y", 9 * 365 * 86400: "9y",
        }
        for secs, text in cases.items():
            self.assertEqual(human_duration(secs), text, secs)


class ColumnsTests(SynchronousTestCase):
    """Column headers."""

    def test_headers(self):
        """Headers of the common kinds match kubectl's."""
        self.assertEqual(header("", "Pod"), "NAME READY STATUS RESTARTS AGE")
        self.assertEqual(
            header("", "Pod", True),
            "NAME READY STATUS RESTARTS AGE IP NODE NOMINATED NODE READINESS GATES",
        )
        self.assertEqual(header("apps", "Deployment"), "NAME READY UP-TO-DATE AVAILABLE AGE")
        self.assertEqual(
            header("apps", "Deployment", True),
            "NAME READY UP-TO-DATE AVAILABLE AGE CONTAINERS IMAGES SELECTOR",
        )
        self.assertEqual(header("", "Service"), "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE")
        self.assertEqual(header("", "ConfigMap"), "NAME DATA AGE")
        self.assertEqual(header("", "Secret"), "NAME TYPE DATA AGE")
        self.assertEqual(header("", "Namespace"), "NAME STATUS AGE")
        self.assertEqual(header("", "Event"), "LAST SEEN TYPE REASON OBJECT MESSAGE")
        self.assertEqual(header("batch", "Job"), "NAME STATUS COMPLETIONS DURATION AGE")
        self.assertEqual(
            header("batch", "CronJob"), "NAME SCHEDULE TIMEZONE SUSPEND ACTIVE LAST SCHEDULE AGE"
        )
        self.assertEqual(header("", "Node"), "NAME STATUS ROLES AGE VERSION")
        self.assertEqual(header("apps", "ReplicaSet"), "NAME DESIRED CURRENT READY AGE")

    def test_default(self):
        """Kinds kube prints with the default table have no columns here."""
        self.assertEqual(columns_for("example.com", "Widget"), ())


class CellsTests(SynchronousTestCase):
    """Cell strings."""

    def test_pod(self):
        """A running pod with a restart prints like kubectl."""
        pod = {
            "metadata": {"name": "p", "creationTimestamp": CREATED},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}], "nodeName": "n1"},
            "status": {
                "phase": "Running",
                "podIPs": [{"ip": "10.1.0.5"}],
                "containerStatuses": [
                    {"name": "a", "ready": True, "restartCount": 2, "state": {"running": {}},
                     "lastState": {"terminated": {"finishedAt": "2024-01-01T00:04:00Z"}}},
                    {"name": "b", "ready": False, "restartCount": 0,
                     "state": {"waiting": {"reason": "CrashLoopBackOff"}}},
                ],
            },
        }
        self.assertEqual(
            row("", "Pod", pod),
            ["1/2", "CrashLoopBackOff", "2 (60s ago)", "5m", "10.1.0.5", "n1", "<none>", "<none>"],
        )

    def test_pending_pod(self):
        """A new pod is Pending with no IP."""
        pod = {"metadata": {"creationTimestamp": CREATED}, "spec": {"containers": [{"name": "a"}]},
               "status": {"phase": "Pending"}}
        self.assertEqual(row("", "Pod", pod)[:4], ["0/1", "Pending", "0", "5m"])

    def test_service(self):
        """Service cells: type, IP, external IP, ports, selector."""
        svc = {
            "metadata": {"creationTimestamp": CREATED},
            "spec": {"type": "NodePort", "clusterIP": "10.0.0.10", "selector": {"b": "2", "a": "1"},
                     "ports": [{"port": 80, "protocol": "TCP", "nodePort": 30080}, {"port": 53, "protocol": "UDP"}]},
        }
        self.assertEqual(
            row("", "Service", svc),
            ["NodePort", "10.0.0.10", "<none>", "80:30080/TCP,53/UDP", "5m", "a=1,b=2"],
        )
        lb = {"spec": {"type": "LoadBalancer", "clusterIP": "10.0.0.2"}}
        self.assertEqual(row("", "Service", lb)[2:4], ["<pending>", "<none>"])

    def test_deployment(self):
        """Deployment cells and wide cells."""
        d = {
            "metadata": {"creationTimestamp": CREATED},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "x"}},
                     "template": {"spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
            "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
        }
        self.assertEqual(row("apps", "Deployment", d), ["2/3", 3, 2, "5m", "c", "nginx", "app=x"])

    def test_job_and_event(self):
        """Job status/completions/duration and an event's cells."""
        job = {"metadata": {"creationTimestamp": CREATED}, "spec": {"completions": 1},
               "status": {"succeeded": 1, "startTime": CREATED, "completionTime": "2024-01-01T00:00:07Z",
                          "conditions": [{"type": "Complete", "status": "True"}]}}
        self.assertEqual(row("batch", "Job", job)[:4], ["Complete", "1/1", "7s", "5m"])
        ev = {"metadata": {"name": "e1"}, "type": "Normal", "reason": "Started", "message": " hi ",
              "involvedObject": {"kind": "Pod", "name": "p"}, "lastTimestamp": "2024-01-01T00:03:00Z",
              "firstTimestamp": CREATED, "source": {"component": "kubelet", "host": "n1"}}
        self.assertEqual(
            row("", "Event", ev),
            ["2m", "Normal", "Started", "pod/p", "", "kubelet, n1", "hi", "5m", 1, "e1"],
        )

    def test_counts(self):
        """ConfigMap and Secret data counts, namespace phase, node status."""
        self.assertEqual(row("", "ConfigMap", {"data": {"a": "1"}, "binaryData": {"b": ""}})[0], 2)
        self.assertEqual(row("", "Secret", {"type": "Opaque", "data": {"a": "eA=="}})[:2], ["Opaque", 1])
        self.assertEqual(row("", "Namespace", {"status": {"phase": "Active"}})[0], "Active")
        node = {"spec": {"unschedulable": True},
                "metadata": {"labels": {"node-role.kubernetes.io/control-plane": ""}},
                "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
        self.assertEqual(row("", "Node", node)[:2], ["Ready,SchedulingDisabled", "control-plane"])

    def test_events_k8s_io(self):
        """An events.k8s.io Event prints the same cells as the core Event it is."""
        ev = {"metadata": {"name": "e1"}, "type": "Warning", "reason": "Failed", "note": "boom",
              "regarding": {"kind": "Pod", "name": "p"}, "eventTime": "2024-01-01T00:04:00.000000Z",
              "reportingController": "kubelet", "reportingInstance": "n1"}
        self.assertEqual(
            row("events.k8s.io", "Event", ev)[:9],
            ["60s", "Warning", "Failed", "pod/p", "", "kubelet, n1", "boom", "60s", 1],
        )


class MoreKubeTablesTests(SynchronousTestCase):
    """
    Pod templates, admission policies and CSI storage capacities print kube's columns.
    """

    def test_columns_and_cells(self) -> None:
        """
        Column names, priorities and cells as kube's printers give them.
        """
        from kapid.registry.tables import cells, columns_for

        pt = columns_for("", "PodTemplate")
        self.assertEqual([(c.name, c.priority) for c in pt], [("Containers", 0), ("Images", 0), ("Pod Labels", 0)])
        self.assertEqual(cells(pt, {"template": {"metadata": {"labels": {"a": "b"}},
                                                 "spec": {"containers": [{"name": "c", "image": "i"}]}}}),
                         ["c", "i", "a=b"])
        vap = columns_for("admissionregistration.k8s.io", "ValidatingAdmissionPolicy")
        self.assertEqual([c.name for c in vap], ["Validations", "ParamKind", "Age"])
        self.assertEqual(cells(vap[:2], {"spec": {"validations": [{}, {}]}}), [2, "<unset>"])
        vapb = columns_for("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding")
        self.assertEqual([c.name for c in vapb], ["PolicyName", "ParamRef", "Age"])
        self.assertEqual(cells(vapb[:2], {"spec": {"policyName": "p", "paramRef": {"name": "x", "namespace": "n"}}}),
                         ["p", "n/x"])
        csc = columns_for("storage.k8s.io", "CSIStorageCapacity")
        self.assertEqual([c.name for c in csc], ["StorageClassName", "Capacity"])
        self.assertEqual(cells(csc, {"storageClassName": "fast"}), ["fast", "<unset>"])
