"""
Tests for L{kapid.registry.conversion}: HorizontalPodAutoscaler v1 <-> v2 and Event core <->
events.k8s.io through their hubs, and identity for other kinds.
"""

from __future__ import annotations

import copy

import orjson
from twisted.trial.unittest import SynchronousTestCase

from kapid.registry.conversion import (
    BEHAVIOR_ANNOTATION,
    CONDITIONS_ANNOTATION,
    METRIC_SPECS_ANNOTATION,
    METRIC_STATUSES_ANNOTATION,
    convert,
    hub_version,
)
from kapid.registry.description import Resource, Version

#: A v2 HPA using what v1 cannot express: several metric kinds, behavior, current metrics and
#: conditions. Its CPU utilization metric is last, where a v1 round trip puts it, and every status
#: quantity v1 always carries is present, so the round trip is exact.
HPA_V2 = {
    "kind": "HorizontalPodAutoscaler",
    "apiVersion": "autoscaling/v2",
    "metadata": {"name": "web", "namespace": "default", "annotations": {"team": "a"}},
    "spec": {
        "scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"},
        "minReplicas": 2,
        "maxReplicas": 10,
        "metrics": [
            {
                "type": "Pods",
                "pods": {
                    "metric": {"name": "qps", "selector": {"matchLabels": {"a": "b"}}},
                    "target": {"type": "AverageValue", "averageValue": "1k"},
                },
            },
            {
                "type": "Object",
                "object": {
                    "describedObject": {"kind": "Ingress", "name": "main", "apiVersion": "networking.k8s.io/v1"},
                    "target": {"type": "Value", "value": "10k"},
                    "metric": {"name": "requests-per-second"},
                },
            },
            {
                "type": "External",
                "external": {
                    "metric": {"name": "queue_messages", "selector": {"matchLabels": {"q": "w"}}},
                    "target": {"type": "AverageValue", "averageValue": "30"},
                },
            },
            {
                "type": "Resource",
                "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "500Mi"}},
            },
            {
                "type": "ContainerResource",
                "containerResource": {
                    "name": "cpu",
                    "container": "app",
                    "target": {"type": "Utilization", "averageUtilization": 70},
                },
            },
            {
                "type": "Resource",
                "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}},
            },
        ],
        "behavior": {
            "scaleUp": {
                "stabilizationWindowSeconds": 0,
                "selectPolicy": "Max",
                "policies": [
                    {"type": "Pods", "value": 4, "periodSeconds": 15},
                    {"type": "Percent", "value": 100, "periodSeconds": 15},
                ],
            },
            "scaleDown": {
                "stabilizationWindowSeconds": 300,
                "selectPolicy": "Min",
                "policies": [{"type": "Percent", "value": 10, "periodSeconds": 60}],
                "tolerance": "50m",
            },
        },
    },
    "status": {
        "observedGeneration": 3,
        "lastScaleTime": "2026-01-02T03:04:05Z",
        "currentReplicas": 3,
        "desiredReplicas": 4,
        "currentMetrics": [
            {
                "type": "Resource",
                "resource": {"name": "cpu", "current": {"averageValue": "120m", "averageUtilization": 60}},
            },
            {
                "type": "Pods",
                "pods": {"metric": {"name": "qps"}, "current": {"averageValue": "900"}},
            },
            {
                "type": "External",
                "external": {"metric": {"name": "queue_messages"}, "current": {"value": "12", "averageValue": "4"}},
            },
        ],
        "conditions": [
            {
                "type": "AbleToScale",
                "status": "True",
                "lastTransitionTime": "2026-01-02T03:00:00Z",
                "reason": "ReadyForNewScale",
                "message": "recommended size matches current size",
            },
            {"type": "ScalingActive", "status": "True", "lastTransitionTime": "2026-01-02T03:00:00Z"},
        ],
    },
}


def _annotation(obj: dict, key: str) -> object:
    return orjson.loads(obj["metadata"]["annotations"][key])


class HorizontalPodAutoscalerTests(SynchronousTestCase):
    """
    autoscaling/v1 <-> autoscaling/v2 through the v2 hub, with kube's round-trip annotations.
    """

    def test_hub(self) -> None:
        """
        HPAs convert through autoscaling/v2, Events through core v1; other kinds have no hub.
        """
        self.assertEqual(hub_version("autoscaling", "HorizontalPodAutoscaler"), "autoscaling/v2")
        self.assertEqual(hub_version("events.k8s.io", "Event"), "v1")
        self.assertIsNone(hub_version("apps", "Deployment"))

    def test_v2_to_v1(self) -> None:
        """
        The CPU utilization metric becomes C{targetCPUUtilizationPercentage}; the rest of v2 goes into
        kube's annotations in v1's metric format and the internal behavior format.
        """
        v1 = convert(HPA_V2, "autoscaling", "HorizontalPodAutoscaler", "v1")
        self.assertEqual(v1["apiVersion"], "autoscaling/v1")
        self.assertEqual(
            v1["spec"],
            {
                "scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"},
                "minReplicas": 2,
                "maxReplicas": 10,
                "targetCPUUtilizationPercentage": 50,
            },
        )
        self.assertEqual(
            v1["status"],
            {
                "observedGeneration": 3,
                "lastScaleTime": "2026-01-02T03:04:05Z",
                "currentReplicas": 3,
                "desiredReplicas": 4,
                "currentCPUUtilizationPercentage": 60,
            },
        )
        annotations = v1["metadata"]["annotations"]
        self.assertEqual(annotations["team"], "a")
        self.assertEqual(
            annotations[METRIC_SPECS_ANNOTATION],
            '[{"type":"Pods","pods":{"metricName":"qps","targetAverageValue":"1k",'
            '"selector":{"matchLabels":{"a":"b"}}}},'
            '{"type":"Object","object":{"target":{"kind":"Ingress","name":"main",'
            '"apiVersion":"networking.k8s.io/v1"},"metricName":"requests-per-second","targetValue":"10k"}},'
            '{"type":"External","external":{"metricName":"queue_messages",'
            '"metricSelector":{"matchLabels":{"q":"w"}},"targetAverageValue":"30"}},'
            '{"type":"Resource","resource":{"name":"memory","targetAverageValue":"500Mi"}},'
            '{"type":"ContainerResource","containerResource":{"name":"cpu",'
            '"targetAverageUtilization":70,"container":"app"}}]',
        )
        self.assertEqual(
            _annotation(v1, BEHAVIOR_ANNOTATION),
            {
                "ScaleUp": {
                    "StabilizationWindowSeconds": 0,
                    "SelectPolicy": "Max",
                    "Policies": [
                        {"Type": "Pods", "Value": 4, "PeriodSeconds": 15},
                        {"Type": "Percent", "Value": 100, "PeriodSeconds": 15},
                    ],
                    "Tolerance": None,
                },
                "ScaleDown": {
                    "StabilizationWindowSeconds": 300,
                    "SelectPolicy": "Min",
                    "Policies": [{"Type": "Percent", "Value": 10, "PeriodSeconds": 60}],
                    "Tolerance": "50m",
                },
            },
        )
        self.assertEqual(
            _annotation(v1, METRIC_STATUSES_ANNOTATION)[0],
            {"type": "Resource", "resource": {"name": "cpu", "currentAverageUtilization": 60, "currentAverageValue": "120m"}},
        )
        self.assertEqual(len(_annotation(v1, CONDITIONS_ANNOTATION)), 2)

    def test_v2_v1_v2_lossless(self) -> None:
        """
        A v2 HPA with data v1 cannot hold comes back unchanged from a trip through v1.
        """
        original = copy.deepcopy(HPA_V2)
        v1 = convert(HPA_V2, "autoscaling", "HorizontalPodAutoscaler", "v1")
        back = convert(v1, "autoscaling", "HorizontalPodAutoscaler", "v2")
        self.assertEqual(back, HPA_V2)
        self.assertEqual(HPA_V2, original, "the input is not changed")

    def test_v1_v2_v1_lossless(self) -> None:
        """
        A v1 HPA, with or without round-trip annotations, comes back unchanged from a trip through v2.
        """
        plain = {
            "kind": "HorizontalPodAutoscaler",
            "apiVersion": "autoscaling/v1",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"},
                "minReplicas": 1,
                "maxReplicas": 5,
                "targetCPUUtilizationPercentage": 75,
            },
            "status": {"currentReplicas": 1, "desiredReplicas": 1, "currentCPUUtilizationPercentage": 30},
        }
        v2 = convert(plain, "autoscaling", "HorizontalPodAutoscaler", "v2")
        self.assertEqual(
            v2["spec"]["metrics"],
            [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 75}}}],
        )
        self.assertEqual(
            v2["status"]["currentMetrics"],
            [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 30}}}],
        )
        self.assertNotIn("annotations", v2["metadata"])
        v1 = convert(v2, "autoscaling", "HorizontalPodAutoscaler", "v1")
        self.assertEqual(v1, plain)

        annotated = convert(HPA_V2, "autoscaling", "HorizontalPodAutoscaler", "v1")
        again = convert(
            convert(annotated, "autoscaling", "HorizontalPodAutoscaler", "v2"),
            "autoscaling",
            "HorizontalPodAutoscaler",
            "v1",
        )
        self.assertEqual(again, annotated)

    def test_v1_annotations_lifted(self) -> None:
        """
        Converting from v1 removes the round-trip annotations and keeps the others.
        """
        v1 = convert(HPA_V2, "autoscaling", "HorizontalPodAutoscaler", "v1")
        v2 = convert(v1, "autoscaling", "HorizontalPodAutoscaler", "v2")
        self.assertEqual(v2["metadata"]["annotations"], {"team": "a"})

    def test_v1_default_cpu(self) -> None:
        """
        A v1 HPA without a CPU target means kube's default 80% utilization in v2.
        """
        v1 = {
            "kind": "HorizontalPodAutoscaler",
            "apiVersion": "autoscaling/v1",
            "metadata": {"name": "x"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "x"}, "maxReplicas": 3},
        }
        v2 = convert(v1, "autoscaling", "HorizontalPodAutoscaler", "v2")
        self.assertEqual(
            v2["spec"]["metrics"],
            [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}],
        )

    def test_behavior_annotation_case_insensitive(self) -> None:
        """
        The behavior annotation is read the way Go's decoder reads it (field names in any case),
        and a malformed annotation is ignored.
        """
        v1 = {
            "kind": "HorizontalPodAutoscaler",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                "name": "x",
                "annotations": {
                    BEHAVIOR_ANNOTATION: '{"scaleDown":{"stabilizationWindowSeconds":60,"policies":null}}',
                    METRIC_SPECS_ANNOTATION: "not json",
                },
            },
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "x"}, "maxReplicas": 3, "targetCPUUtilizationPercentage": 10},
        }
        v2 = convert(v1, "autoscaling", "HorizontalPodAutoscaler", "v2")
        self.assertEqual(v2["spec"]["behavior"], {"scaleDown": {"stabilizationWindowSeconds": 60}})
        self.assertEqual(len(v2["spec"]["metrics"]), 1)
        self.assertNotIn("annotations", v2["metadata"])


CORE_EVENT = {
    "kind": "Event",
    "apiVersion": "v1",
    "metadata": {"name": "web.1", "namespace": "default"},
    "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web", "uid": "u1", "apiVersion": "v1"},
    "reason": "Scheduled",
    "message": "Successfully assigned default/web to node1",
    "source": {"component": "default-scheduler", "host": "node1"},
    "firstTimestamp": "2026-01-02T03:04:05Z",
    "lastTimestamp": "2026-01-02T03:04:09Z",
    "count": 3,
    "type": "Normal",
    "eventTime": "2026-01-02T03:04:05.123456Z",
    "series": {"count": 2, "lastObservedTime": "2026-01-02T03:04:09.000000Z"},
    "action": "Binding",
    "related": {"kind": "Node", "name": "node1"},
    "reportingComponent": "default-scheduler",
    "reportingInstance": "default-scheduler-node1",
}

EVENTS_EVENT = {
    "kind": "Event",
    "apiVersion": "events.k8s.io/v1",
    "metadata": {"name": "web.1", "namespace": "default"},
    "eventTime": "2026-01-02T03:04:05.123456Z",
    "series": {"count": 2, "lastObservedTime": "2026-01-02T03:04:09.000000Z"},
    "reportingController": "default-scheduler",
    "reportingInstance": "default-scheduler-node1",
    "action": "Binding",
    "reason": "Scheduled",
    "regarding": {"kind": "Pod", "namespace": "default", "name": "web", "uid": "u1", "apiVersion": "v1"},
    "related": {"kind": "Node", "name": "node1"},
    "note": "Successfully assigned default/web to node1",
    "type": "Normal",
    "deprecatedSource": {"component": "default-scheduler", "host": "node1"},
    "deprecatedFirstTimestamp": "2026-01-02T03:04:05Z",
    "deprecatedLastTimestamp": "2026-01-02T03:04:09Z",
    "deprecatedCount": 3,
}


class EventTests(SynchronousTestCase):
    """
    core/v1 Event <-> events.k8s.io/v1 Event over one hub.
    """

    def test_core_to_events(self) -> None:
        """
        Every core field lands in its events.k8s.io field, in Go's field order.
        """
        out = convert(CORE_EVENT, "events.k8s.io", "Event", "v1")
        self.assertEqual(out, EVENTS_EVENT)
        self.assertEqual(list(out), list(EVENTS_EVENT))

    def test_events_to_core(self) -> None:
        """
        Every events.k8s.io field lands in its core field, in Go's field order.
        """
        out = convert(EVENTS_EVENT, "", "Event", "v1")
        self.assertEqual(out, CORE_EVENT)
        self.assertEqual(list(out), list(CORE_EVENT))

    def test_round_trips(self) -> None:
        """
        Both directions are lossless, also for a sparse event.
        """
        self.assertEqual(
            convert(convert(CORE_EVENT, "events.k8s.io", "Event", "v1"), "", "Event", "v1"), CORE_EVENT
        )
        self.assertEqual(
            convert(convert(EVENTS_EVENT, "", "Event", "v1"), "events.k8s.io", "Event", "v1"), EVENTS_EVENT
        )
        sparse = {"kind": "Event", "apiVersion": "v1", "metadata": {"name": "e"}, "message": "hi"}
        there = convert(sparse, "events.k8s.io", "Event", "v1")
        self.assertEqual(there, {"kind": "Event", "apiVersion": "events.k8s.io/v1", "metadata": {"name": "e"}, "note": "hi"})
        self.assertEqual(convert(there, "", "Event", "v1"), sparse)


class IdentityTests(SynchronousTestCase):
    """
    Kinds without a converter only change C{apiVersion}.
    """

    def test_identity(self) -> None:
        """
        A kind without a family keeps its content, with the target apiVersion, and the input is
        not changed.
        """
        obj = {"kind": "Widget", "apiVersion": "example.com/v1beta1", "metadata": {"name": "w"}, "spec": {"a": [1]}}
        out = convert(obj, "example.com", "Widget", "v1")
        self.assertEqual(out, dict(obj, apiVersion="example.com/v1"))
        out["spec"]["a"].append(2)
        self.assertEqual(obj["spec"]["a"], [1])

    def test_same_version(self) -> None:
        """
        Converting to the version an object is in returns an equal copy.
        """
        out = convert(HPA_V2, "autoscaling", "HorizontalPodAutoscaler", "v2")
        self.assertEqual(out, HPA_V2)
        self.assertIsNot(out, HPA_V2)

    def test_resource_form(self) -> None:
        """
        C{convert(obj, resource, version)} takes the group and kind from a resource description.
        """
        resource = Resource(
            group="autoscaling",
            kind="HorizontalPodAutoscaler",
            plural="horizontalpodautoscalers",
            singular="horizontalpodautoscaler",
            versions=(Version("v2", storage=True), Version("v1")),
        )
        self.assertEqual(
            convert(HPA_V2, resource, "v1"),
            convert(HPA_V2, "autoscaling", "HorizontalPodAutoscaler", "v1"),
        )


class HPAStatusZeroTests(SynchronousTestCase):
    """
    Status fields each version writes even when zero (Go's JSON tags without omitempty).
    """

    def test_zero_replicas(self) -> None:
        """
        v1 always has currentReplicas and desiredReplicas; v2 drops a zero currentReplicas.
        """
        from kapid.registry.conversion import hpa_v1_to_v2, hpa_v2_to_v1

        v2 = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h"},
              "spec": {"maxReplicas": 2, "scaleTargetRef": {"kind": "Deployment", "name": "d"}},
              "status": {"desiredReplicas": 0}}
        self.assertEqual(hpa_v2_to_v1(v2)["status"], {"currentReplicas": 0, "desiredReplicas": 0})
        back = hpa_v1_to_v2(hpa_v2_to_v1(v2))
        self.assertEqual(back["status"], {"desiredReplicas": 0})
