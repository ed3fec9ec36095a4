"""
Tests for L{kapid.apimachinery.serialization} and L{kapid.apimachinery.table}.
"""

from twisted.trial.unittest import SynchronousTestCase

from kapid.apimachinery import serialization as ser
from kapid.apimachinery.status import StatusError
from kapid.apimachinery.table import human_duration


class NegotiationTests(SynchronousTestCase):
    """
    Accept headers.
    """

    def test_kubectl_table_accept(self) -> None:
        """
        kubectl's Table Accept picks Table v1.
        """
        out = ser.negotiate("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json")
        self.assertEqual((out.as_kind, out.as_version), ("Table", "v1"))
        self.assertEqual(out.content_type, "application/json;as=Table;g=meta.k8s.io;v=v1")

    def test_protobuf_falls_back_to_json(self) -> None:
        """
        protobuf,json answers JSON.
        """
        self.assertEqual(ser.negotiate("application/vnd.kubernetes.protobuf,application/json").media, "application/json")
        self.assertEqual(ser.negotiate("*/*").media, "application/json")

    def test_yaml(self) -> None:
        """
        application/yaml answers YAML.
        """
        self.assertEqual(ser.negotiate("application/yaml").media, "application/yaml")

    def test_406(self) -> None:
        """
        Nothing acceptable is 406.
        """
        e = self.assertRaises(StatusError, ser.negotiate, "text/html")
        self.assertEqual(e.code, 406)

    def test_json_trailing_newline(self) -> None:
        """
        JSON bodies end with a newline.
        """
        self.assertEqual(ser.encode_json({"a": 1}), b'{"a":1}\n')

    def test_yaml_keeps_timestamps_as_strings(self) -> None:
        """
        YAML timestamps stay strings.
        """
        self.assertEqual(ser.decode_yaml(b"t: 2020-01-01T00:00:00Z\n"), {"t": "2020-01-01T00:00:00Z"})


class DurationTests(SynchronousTestCase):
    """
    kube's HumanDuration.
    """

    def test_durations(self) -> None:
        """
        Ages read like kubectl's.
        """
        self.assertEqual(human_duration(5), "5s")
        self.assertEqual(human_duration(130), "2m10s")
        self.assertEqual(human_duration(600), "10m")
        self.assertEqual(human_duration(3 * 3600 + 60), "3h1m")
        self.assertEqual(human_duration(50 * 3600), "2d2h")
        self.assertEqual(human_duration(-5), "<invalid>")
