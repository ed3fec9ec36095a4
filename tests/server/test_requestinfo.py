"""
Kube's request-info table (requestinfo_test.go), run against L{new_request_info}.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from twisted.trial.unittest import SynchronousTestCase

from kapid.server.requestinfo import RequestInfoError, new_request_info


def info(method: str, url: str):  # type: ignore[no-untyped-def]
    """
    Parse C{url} as the request-info filter does.
    """
    parts = urlsplit(url)
    return new_request_info(method, parts.path, parse_qs(parts.query, keep_blank_values=True))


# method, url, verb, prefix, group, version, namespace, resource, subresource, name, parts
SUCCESS = [
    ("GET", "/api/v1/namespaces", "list", "api", "", "v1", "", "namespaces", "", "", ["namespaces"]),
    ("GET", "/api/v1/namespaces/other", "get", "api", "", "v1", "other", "namespaces", "", "other", ["namespaces", "other"]),
    ("GET", "/api/v1/namespaces/other/pods", "list", "api", "", "v1", "other", "pods", "", "", ["pods"]),
    ("GET", "/api/v1/namespaces/other/pods/foo", "get", "api", "", "v1", "other", "pods", "", "foo", ["pods", "foo"]),
    ("HEAD", "/api/v1/namespaces/other/pods/foo", "get", "api", "", "v1", "other", "pods", "", "foo", ["pods", "foo"]),
    ("GET", "/api/v1/pods", "list", "api", "", "v1", "", "pods", "", "", ["pods"]),
    ("HEAD", "/api/v1/pods", "list", "api", "", "v1", "", "pods", "", "", ["pods"]),
    ("PATCH", "/api/v1/namespaces/new-namespace", "patch", "api", "", "v1", "", "namespaces", "", "new-namespace", ["namespaces", "new-namespace"]),
    ("GET", "/api/v1/proxy/namespaces/other/pods/foo", "proxy", "api", "", "v1", "other", "pods", "", "foo", ["pods", "foo"]),
    ("GET", "/api/v1/proxy/namespaces/other/pods/foo/subpath/not/a/subresource", "proxy", "api", "", "v1", "other", "pods", "", "foo", ["pods", "foo", "subpath", "not", "a", "subresource"]),
    ("GET", "/api/v1/watch/pods", "watch", "api", "", "v1", "", "pods", "", "", ["pods"]),
    ("GET", "/api/v1/pods?watch=true", "watch", "api", "", "v1", "", "pods", "", "", ["pods"]),
    ("GET", "/api/v1/pods?watch=false", "list", "api", "", "v1", "", "pods", "", "", ["pods"]),
    ("GET", "/api/v1/watch/namespaces/other/pods", "watch", "api", "", "v1", "other", "pods", "", "", ["pods"]),
    ("GET", "/api/v1/namespaces/other/pods?watch=1", "watch", "api", "", "v1", "other", "pods", "", "", ["pods"]),
    ("GET", "/api/v1/namespaces/other/pods?watch=0", "list", "api", "", "v1", "other", "pods", "", "", ["pods"]),
    ("GET", "/api/v1/namespaces/other/pods/foo/status", "get", "api", "", "v1", "other", "pods", "status", "foo", ["pods", "foo", "status"]),
    ("GET", "/api/v1/namespaces/other/pods/foo/proxy/subpath", "get", "api", "", "v1", "other", "pods", "proxy", "foo", ["pods", "foo", "proxy", "subpath"]),
    ("PUT", "/api/v1/namespaces/other/finalize", "update", "api", "", "v1", "other", "namespaces", "finalize", "other", ["namespaces", "other", "finalize"]),
    ("PUT", "/api/v1/namespaces/other/status", "update", "api", "", "v1", "other", "namespaces", "status", "other", ["namespaces", "other", "status"]),
    ("PATCH", "/api/v1/namespaces/other/pods/foo", "patch", "api", "", "v1", "other", "pods", "", "foo", ["pods", "foo"]),
    ("DELETE", "/api/v1/namespaces/other/pods/foo", "delete", "api", "", "v1", "other", "pods", "", "foo", ["pods", "foo"]),
    ("POST", "/api/v1/namespaces/other/pods", "create", "api", "", "v1", "other", "pods", "", "", ["pods"]),
    ("DELETE", "/api/v1/nodes", "deletecollection", "api", "", "v1", "", "nodes", "", "", ["nodes"]),
    ("DELETE", "/api/v1/namespaces", "deletecollection", "api", "", "v1", "", "namespaces", "", "", ["namespaces"]),
    ("DELETE", "/api/v1/namespaces/other/pods", "deletecollection", "api", "", "v1", "other", "pods", "", "", ["pods"]),
    ("DELETE", "/apis/extensions/v1/namespaces/other/pods", "deletecollection", "apis", "extensions", "v1", "other", "pods", "", "", ["pods"]),
    ("POST", "/apis/extensions/v1/namespaces/other/pods", "create", "apis", "extensions", "v1", "other", "pods", "", "", ["pods"]),
    ("POST", "/apis/extensions/v1beta3/namespaces/other/pods", "create", "apis", "extensions", "v1beta3", "other", "pods", "", "", ["pods"]),
]

NON_RESOURCE = [
    "/", "/api/version/", "/apis/group/version/", "/badprefix/version/resource", "/apis/version/resource",
    "/not-api/version/resource", "/apis/extensions/v1beta1", "/apis/extensions/v1beta1/", "/api/version",
    "/api", "", "/healthz", "/version",
]

RESOURCE = [
    "/api/version/resource", "/apis/group/version/resource/name/subresource", "/api/version/resource/name/subresource",
    "/apis/batch/v1/job", "/apis/batch/v1/job/foo", "/apis/batch/v1/job/foo/scale",
]

# url, expected name, expected verb
FIELD_SELECTORS = [
    ("/apis/group/version/resource", "", "list"),
    ("/apis/group/version/resource?fieldSelector=metadata.name=name1", "name1", "list"),
    ("/apis/group/version/resource?watch=true&fieldSelector=metadata.name=name1", "name1", "watch"),
    ("/apis/group/version/resource?fieldSelector=foo=bar", "", "list"),
    ("/apis/group/version/resource?fieldSelector=metadata.name=name1,foo", "", "list"),
    ("/apis/group/version/resource?fieldSelector=metadata.name=name1,foo&watch=true", "", "watch"),
    ("/apis/group/version/resource?fieldSelector=metadata.name=name1,foo&watch=false", "", "list"),
]


class RequestInfoTests(SynchronousTestCase):
    """
    kapid parses URLs exactly as kube's RequestInfoFactory does.
    """

    def test_kube_success_table(self) -> None:
        """
        Every row of kube's success table parses to the same fields.
        """
        for method, url, verb, prefix, group, version, ns, resource, sub, name, parts in SUCCESS:
            got = info(method, url)
            self.assertTrue(got.is_resource_request, url)
            self.assertEqual(
                (got.verb, got.api_prefix, got.api_group, got.api_version, got.namespace, got.resource,
                 got.subresource, got.name, list(got.parts)),
                (verb, prefix, group, version, ns, resource, sub, name, parts),
                f"{method} {url}",
            )

    def test_non_resource(self) -> None:
        """
        Paths kube treats as non-resource requests are non-resource here, with the method as verb.
        """
        for url in NON_RESOURCE:
            got = info("GET", url)
            self.assertFalse(got.is_resource_request, url)
            self.assertEqual(got.verb, "get")

    def test_resource(self) -> None:
        """
        Paths kube treats as resource requests are resource requests here.
        """
        for url in RESOURCE:
            self.assertTrue(info("GET", url).is_resource_request, url)

    def test_field_selector(self) -> None:
        """
        A metadata.name field selector names the object (kube's field selector table).
        """
        for url, name, verb in FIELD_SELECTORS:
            got = info("GET", url)
            self.assertEqual((got.name, got.verb), (name, verb), url)

    def test_watch_without_value(self) -> None:
        """
        ?watch with no value is a watch (only false and 0 are not).
        """
        self.assertEqual(info("GET", "/api/v1/pods?watch").verb, "watch")

    def test_special_verb_without_resource(self) -> None:
        """
        /api/v1/watch alone cannot be parsed.
        """
        self.assertRaises(RequestInfoError, info, "GET", "/api/v1/watch")

    def test_long_running(self) -> None:
        """
        Watches, proxies and exec/attach/log/portforward are long-running.
        """
        self.assertTrue(info("GET", "/api/v1/pods?watch=1").is_long_running)
        self.assertTrue(info("GET", "/api/v1/namespaces/a/pods/b/log").is_long_running)
        self.assertTrue(info("POST", "/api/v1/namespaces/a/pods/b/exec").is_long_running)
        self.assertFalse(info("GET", "/api/v1/pods").is_long_running)
        self.assertFalse(info("GET", "/healthz").is_long_running)
