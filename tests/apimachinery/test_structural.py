"""Tests for kapid.apimachinery.structural."""

from twisted.trial.unittest import SynchronousTestCase

from kapid.apimachinery.schema import Schema
from kapid.apimachinery.structural import (
    canonical_time,
    cannot_handle_message,
    decode_error,
    duplicate_fields,
    prune,
    strict_decoding_message,
    unknown_fields,
    validate_schema,
)


def deployment(**spec):
    """A Deployment body with the given spec fields."""
    base = {
        "replicas": 1,
        "selector": {"matchLabels": {"a": "b"}},
        "template": {
            "metadata": {"labels": {"a": "b"}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]},
        },
    }
    base.update(spec)
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": base}


class UnknownFieldsTests(SynchronousTestCase):
    """unknown_fields and prune."""

    def setUp(self):
        self.schema = Schema.of("io.k8s.api.apps.v1.Deployment")

    def test_clean(self):
        """A well-formed Deployment has no unknown fields."""
        self.assertEqual(unknown_fields(self.schema, deployment()), [])

    def test_paths(self):
        """Unknown fields are reported with kube's paths, list indices included, in order."""
        d = deployment(foo=1)
        d["spec"]["template"]["spec"]["containers"][0]["restartPolicyx"] = "x"
        d["metadata"]["bar"] = 2
        self.assertEqual(
            unknown_fields(self.schema, d),
            ["metadata.bar", "spec.template.spec.containers[0].restartPolicyx", "spec.foo"],
        )

    def test_message(self):
        """The strict message lists every unknown field like kube's decoder."""
        msg = cannot_handle_message(
            "Deployment", "v1", strict_decoding_message(["spec.foo", "spec.bar"])
        )
        self.assertEqual(
            msg,
            'Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: '
            'unknown field "spec.foo", unknown field "spec.bar"',
        )

    def test_preserve_unknown(self):
        """Fields inside a RawExtension-like object (ControllerRevision.data) are kept."""
        schema = Schema.of("io.k8s.api.apps.v1.ControllerRevision")
        obj = {"metadata": {"name": "x"}, "revision": 1, "data": {"anything": {"x": 1}}}
        self.assertEqual(unknown_fields(schema, obj), [])
        self.assertEqual(prune(schema, obj)["data"], {"anything": {"x": 1}})

    def test_prune(self):
        """prune drops unknown fields at every depth and keeps known ones."""
        d = deployment(foo=1)
        d["spec"]["template"]["spec"]["containers"][0]["bogus"] = True
        prune(self.schema, d)
        self.assertEqual(d, deployment())

    def test_map_values(self):
        """Map values that are plain strings never produce unknown fields."""
        schema = Schema.of("io.k8s.api.core.v1.ConfigMap")
        self.assertEqual(unknown_fields(schema, {"data": {"weird.key": "v"}}), [])

    def test_duplicates(self):
        """Repeated keys in the JSON text are found with their paths."""
        body = b'{"spec": {"replicas": 1, "replicas": 2, "x": [{"a": 1, "a": 2}]}}'
        self.assertEqual(duplicate_fields(body), ["spec.replicas", "spec.x[0].a"])


class DecodeTests(SynchronousTestCase):
    """decode_error mirrors Go's JSON decoding errors (kube answers them 400)."""

    def setUp(self):
        self.schema = Schema.of("io.k8s.api.apps.v1.Deployment")

    def test_ok(self):
        """A valid Deployment decodes."""
        self.assertIsNone(decode_error(self.schema, deployment()))

    def test_string_for_int(self):
        """A string where an int32 goes names the innermost struct and the JSON path."""
        self.assertEqual(
            decode_error(self.schema, deployment(replicas="3")),
            "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas "
            "of type int32",
        )

    def test_nested(self):
        """Errors inside lists drop the index and name the element struct."""
        d = deployment()
        d["spec"]["template"]["spec"]["containers"][0]["image"] = 5
        self.assertEqual(
            decode_error(self.schema, d),
            "json: cannot unmarshal number into Go struct field "
            "Container.spec.template.spec.containers.image of type string",
        )

    def test_labels(self):
        """A number as a label value reports the map's Go type."""
        d = deployment()
        d["metadata"]["labels"] = {"a": 1}
        self.assertEqual(
            decode_error(self.schema, d),
            "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels "
            "of type string",
        )

    def test_struct_type(self):
        """A string where a struct goes names the struct's Go type."""
        self.assertEqual(
            decode_error(self.schema, deployment(template="x")),
            "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.template "
            "of type v1.PodTemplateSpec",
        )

    def test_int32_range(self):
        """An int32 out of range is reported with the number."""
        self.assertEqual(
            decode_error(self.schema, deployment(replicas=3000000000)),
            "json: cannot unmarshal number 3000000000 into Go struct field "
            "DeploymentSpec.spec.replicas of type int32",
        )

    def test_quantity(self):
        """A bad quantity gets kube's regular-expression message; good ones pass."""
        d = deployment()
        c = d["spec"]["template"]["spec"]["containers"][0]
        c["resources"] = {"limits": {"cpu": "100m", "memory": "1Gi"}}
        self.assertIsNone(decode_error(self.schema, d))
        c["resources"]["limits"]["cpu"] = "lots"
        self.assertIn("quantities must match the regular expression", decode_error(self.schema, d))

    def test_time(self):
        """A bad creationTimestamp is a time parsing error."""
        d = deployment()
        d["metadata"]["creationTimestamp"] = "yesterday"
        self.assertTrue(decode_error(self.schema, d).startswith('parsing time "yesterday"'))

    def test_times_rewritten_as_kube_encodes_them(self):
        """
        Decoding rewrites times in place as kube encodes the Go value: UTC, C{Z}, seconds.
        """
        d = deployment()
        d["metadata"]["creationTimestamp"] = "2024-01-02T05:04:05.9+02:00"
        d["metadata"]["managedFields"] = [{"manager": "m", "time": "2024-01-02T03:04:05+00:00"}]
        d["status"] = {"conditions": [{"type": "Available", "lastUpdateTime": "2024-01-02t03:04:05z"}]}
        self.assertIsNone(decode_error(self.schema, d))
        self.assertEqual(d["metadata"]["creationTimestamp"], "2024-01-02T03:04:05Z")
        self.assertEqual(d["metadata"]["managedFields"][0]["time"], "2024-01-02T03:04:05Z")
        self.assertEqual(d["status"]["conditions"][0]["lastUpdateTime"], "2024-01-02T03:04:05Z")

    def test_micro_times(self):
        """
        C{metav1.MicroTime} keeps microseconds, always six digits, in UTC.
        """
        lease = {"spec": {"renewTime": "2024-01-02T05:04:05.25+02:00", "acquireTime": "2024-01-02T03:04:05Z"}}
        self.assertIsNone(decode_error(Schema.of("io.k8s.api.coordination.v1.Lease"), lease))
        self.assertEqual(
            lease["spec"],
            {"renewTime": "2024-01-02T03:04:05.250000Z", "acquireTime": "2024-01-02T03:04:05.000000Z"},
        )

    def test_canonical_time(self):
        """
        Offsets become UTC, fractions are truncated (not rounded), canonical text is returned as is.
        """
        self.assertEqual(canonical_time("2024-01-02T03:04:05+00:00"), "2024-01-02T03:04:05Z")
        self.assertEqual(canonical_time("2024-01-02T00:30:05.999-03:00"), "2024-01-02T03:30:05Z")
        self.assertEqual(canonical_time("2024-01-02T03:04:05.1234567Z", micro=True), "2024-01-02T03:04:05.123456Z")
        text = "2024-01-02T03:04:05Z"
        self.assertIs(canonical_time(text), text)

    def test_base64(self):
        """Secret data must be base64."""
        schema = Schema.of("io.k8s.api.core.v1.Secret")
        self.assertIsNone(decode_error(schema, {"data": {"a": "YWJj"}}))
        self.assertEqual(
            decode_error(schema, {"data": {"a": "a$bc"}}), "illegal base64 data at input byte 1"
        )

    def test_int_or_string(self):
        """IntOrString takes strings and ints but not booleans."""
        schema = Schema.of("io.k8s.api.core.v1.ServicePort")
        self.assertIsNone(decode_error(schema, {"port": 80, "targetPort": "http"}))
        self.assertIsNone(decode_error(schema, {"port": 80, "targetPort": 8080}))
        self.assertEqual(
            decode_error(schema, {"port": 80, "targetPort": True}),
            "json: cannot unmarshal bool into Go value of type int32",
        )


class ValidateSchemaTests(SynchronousTestCase):
    """validate_schema gives the 422 errors kube gives for custom resources."""

    def setUp(self):
        self.schema = Schema.structural(
            {
                "type": "object",
                "required": ["spec"],
                "properties": {
                    "spec": {
                        "type": "object",
                        "required": ["size"],
                        "properties": {
                            "size": {"type": "integer", "maximum": 10},
                            "mode": {"type": "string", "enum": ["a", "b"]},
                            "port": {"x-kubernetes-int-or-string": True},
                            "tags": {"type": "array", "maxItems": 1, "items": {"type": "string"}},
                        },
                    }
                },
            }
        )

    def test_type(self):
        """A wrong type reads like kube's OpenAPI validator."""
        errs = validate_schema(self.schema, {"spec": {"size": "x"}})
        self.assertEqual(
            [str(e) for e in errs],
            ['spec.size: Invalid value: "string": spec.size in body must be of type integer: '
             '"string"'],
        )

    def test_rules(self):
        """Required, enum, maximum and maxItems are checked."""
        errs = validate_schema(
            self.schema, {"spec": {"size": 11, "mode": "c", "tags": ["a", "b"], "port": "x"}}
        )
        self.assertEqual(
            [str(e) for e in errs],
            [
                "spec.size: Invalid value: 11: spec.size in body should be less than or equal to 10",
                'spec.mode: Unsupported value: "c": supported values: "a", "b"',
                "spec.tags: Too many: 2: must have at most 1 items",
            ],
        )
        self.assertEqual(
            [str(e) for e in validate_schema(self.schema, {"spec": {}})],
            ["spec.size: Required value"],
        )


class StrictFieldErrorsTests(SynchronousTestCase):
    """strict_field_errors orders complaints as kube's decoder meets them."""

    def test_interleaved(self):
        """Duplicates and unknown fields come in document order with full paths."""
        from kapid.apimachinery.structural import strict_field_errors

        body = (b'{"metadata":{"name":"a","name":"b"},"dta":{"x":1},'
                b'"spec":{"template":{"spec":{"containers":[{"name":"c","bogus":1}]}}}}')
        self.assertEqual(
            strict_field_errors(Schema.of("io.k8s.api.apps.v1.Deployment"), body),
            ['duplicate field "metadata.name"', 'unknown field "dta"',
             'unknown field "spec.template.spec.containers[0].bogus"'],
        )


class SchemaDefaultsTests(SynchronousTestCase):
    """apply_schema_defaults fills a CRD schema's defaults."""

    def test_defaults(self):
        """Absent properties get their defaults at every depth; present ones are kept."""
        from kapid.apimachinery.structural import apply_schema_defaults

        schema = Schema.structural({
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "default": {},
                    "properties": {
                        "size": {"type": "integer", "default": 3},
                        "mode": {"type": "string", "default": "a"},
                        "items": {"type": "array", "items": {"type": "object", "properties": {"w": {"type": "integer", "default": 1}}}},
                    },
                }
            },
        })
        obj = apply_schema_defaults(schema, {})
        self.assertEqual(obj, {"spec": {"size": 3, "mode": "a"}})
        obj = apply_schema_defaults(schema, {"spec": {"mode": "b", "items": [{}, {"w": 5}]}})
        self.assertEqual(obj, {"spec": {"mode": "b", "items": [{"w": 1}, {"w": 5}], "size": 3}})
