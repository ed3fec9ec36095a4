"""
Version conversion through the HTTP API on the memory store: autoscaling/v1 <-> v2
HorizontalPodAutoscalers and core/v1 <-> events.k8s.io/v1 Events, each stored once.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from tests.endpoints.helpers import API

V1 = "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers"
V2 = "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers"
TARGET = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}


class HPAConversionTests(SynchronousTestCase):
    """
    An HPA is stored once and served as autoscaling/v1 and v2.
    """

    def test_v1_read_as_v2(self) -> None:
        """
        A v1 HPA's targetCPUUtilizationPercentage is a v2 CPU utilization metric.
        """
        api = API(self)
        hpa = {"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h"},
               "spec": {"scaleTargetRef": TARGET, "minReplicas": 1, "maxReplicas": 5,
                        "targetCPUUtilizationPercentage": 70}}
        code, body, _ = api.post(V1, hpa)
        self.assertEqual(code, 201, body)
        code, body, _ = api.get(f"{V2}/h")
        self.assertEqual((code, body["apiVersion"]), (200, "autoscaling/v2"))
        self.assertEqual(body["spec"]["metrics"], [{"type": "Resource", "resource": {
            "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}])
        self.assertNotIn("targetCPUUtilizationPercentage", body["spec"])
        listed = api.get(V2)[1]["items"]
        self.assertEqual([i["spec"]["metrics"][0]["resource"]["name"] for i in listed], ["cpu"])

    def test_v2_round_trip_through_v1(self) -> None:
        """
        A v2 HPA's metrics v1 cannot say survive a GET and PUT as v1 (kube's annotations), and do not
        show in v1's own fields.
        """
        api = API(self)
        metrics = [
            {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}},
            {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "500Mi"}}},
            {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "10"}}},
        ]
        hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h"},
               "spec": {"scaleTargetRef": TARGET, "minReplicas": 1, "maxReplicas": 5, "metrics": metrics,
                        "behavior": {"scaleDown": {"stabilizationWindowSeconds": 30}}}}
        code, body, _ = api.post(V2, hpa)
        self.assertEqual(code, 201, body)
        code, as_v1, _ = api.get(f"{V1}/h")
        self.assertEqual((code, as_v1["spec"]["targetCPUUtilizationPercentage"]), (200, 60))
        self.assertNotIn("metrics", as_v1["spec"])
        as_v1["spec"]["maxReplicas"] = 7
        code, body, _ = api.put(f"{V1}/h", as_v1)
        self.assertEqual(code, 200, body)
        back = api.get(f"{V2}/h")[1]
        self.assertEqual(back["spec"]["maxReplicas"], 7)
        # kube's v1 -> v2 conversion puts the CPU utilization target v1 carried after the others
        self.assertEqual(back["spec"]["metrics"], metrics[1:] + metrics[:1])
        self.assertEqual(back["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"], 30)
        self.assertNotIn("annotations", back["metadata"])


class EventConversionTests(SynchronousTestCase):
    """
    Events are stored once under C{/registry/events/<ns>/<name>} and served by both groups.
    """

    def test_core_read_as_events_group(self) -> None:
        """
        A core/v1 Event is listed and read at events.k8s.io/v1 with the new field names.
        """
        api = API(self)
        ev = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e1"}, "reason": "R", "message": "hello",
              "type": "Normal", "involvedObject": {"kind": "ConfigMap", "name": "c", "namespace": "default"},
              "source": {"component": "me"}, "count": 2}
        self.assertEqual(api.post("/api/v1/namespaces/default/events", ev)[0], 201)
        code, body, _ = api.get("/apis/events.k8s.io/v1/namespaces/default/events/e1")
        self.assertEqual((code, body["apiVersion"], body["note"], body["regarding"]["name"]),
                         (200, "events.k8s.io/v1", "hello", "c"))
        self.assertEqual((body["deprecatedSource"], body["deprecatedCount"]), ({"component": "me"}, 2))
        listed = api.get("/apis/events.k8s.io/v1/namespaces/default/events")[1]
        self.assertEqual([i["metadata"]["name"] for i in listed["items"]], ["e1"])
        self.assertIsNotNone(self._raw(api, "/registry/events/default/e1"))

    def test_events_group_read_as_core(self) -> None:
        """
        An events.k8s.io/v1 Event is read at /api/v1 in the core form, from the same key.
        """
        api = API(self)
        ev = {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e2"},
              "eventTime": "2024-01-01T00:00:00.000000Z", "reportingController": "ctl", "reportingInstance": "i",
              "action": "Act", "reason": "R", "note": "hi", "type": "Warning",
              "regarding": {"kind": "Pod", "name": "p", "namespace": "default"}}
        code, body, _ = api.post("/apis/events.k8s.io/v1/namespaces/default/events", ev)
        self.assertEqual(code, 201, body)
        code, body, _ = api.get("/api/v1/namespaces/default/events/e2")
        self.assertEqual((code, body["apiVersion"], body["message"], body["involvedObject"]["name"],
                          body["reportingComponent"]), (200, "v1", "hi", "p", "ctl"))
        stored = self._raw(api, "/registry/events/default/e2")
        self.assertEqual((stored["apiVersion"], stored["message"]), ("v1", "hi"))

    def _raw(self, api: API, key: str) -> dict:
        """
        The object the storage holds under C{key}, or None.
        """
        return api.run(api.storage.get(key, "", True))
