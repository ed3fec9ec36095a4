"""
Tests of kapid's flags: kube-apiserver's defaults, completion, and validation that reports every
problem at once without writing anything.
"""

from __future__ import annotations

import os

from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from kapid import tap
from kapid.options import format_duration, parse_bool, parse_duration
from kapid.options.config import SECTIONS, build_config, config_from_args


def parse(*argv: str) -> tap.Options:
    """
    Parse C{argv} as C{twistd kapid} would.
    """
    options = tap.Options()
    options.parseOptions(list(argv))
    return options


class DefaultsTests(SynchronousTestCase):
    """
    Without flags, kapid takes kube-apiserver's defaults (and its own for the data dir).
    """

    def test_defaults(self) -> None:
        """
        The defaults are kube-apiserver's, with the embedded store under ./kapid-data.
        """
        config = parse().config
        assert config is not None
        self.assertEqual(config.generic.data_dir, "./kapid-data")
        self.assertEqual(config.etcd.storage_backend, "embedded")
        self.assertEqual(config.etcd.etcd_prefix, "/registry")
        self.assertEqual(config.etcd.compaction_interval, 300.0)
        self.assertEqual(config.etcd.default_watch_cache_size, 100)
        self.assertTrue(config.etcd.watch_cache)
        self.assertEqual(config.secure_serving.secure_port, 6443)
        self.assertEqual(config.secure_serving.bind_address, "127.0.0.1")
        self.assertEqual(config.secure_serving.cert_dir, os.path.join("./kapid-data", "pki"))
        self.assertEqual(config.insecure_serving.port, 8080)
        self.assertEqual(config.insecure_serving.bind_address, "127.0.0.1")
        self.assertEqual(config.generic.max_requests_inflight, 400)
        self.assertEqual(config.generic.max_mutating_requests_inflight, 200)
        self.assertEqual(config.generic.request_timeout, 60.0)
        self.assertEqual(config.generic.min_request_timeout, 1800)
        self.assertEqual(config.authorization.modes, ("RBAC",))
        self.assertTrue(config.authentication.anonymous_auth)
        self.assertIn("NamespaceLifecycle", config.admission.plugins)

    def test_etcd_servers_pick_etcd3(self) -> None:
        """
        Naming etcd servers makes etcd3 the storage backend.
        """
        config = parse("--etcd-servers=http://127.0.0.1:2379,http://127.0.0.1:22379").config
        assert config is not None
        self.assertEqual(config.etcd.storage_backend, "etcd3")
        self.assertEqual(config.etcd.etcd_servers, ("http://127.0.0.1:2379", "http://127.0.0.1:22379"))

    def test_advertise_address_completed(self) -> None:
        """
        The advertise address defaults to the bind address (or a real interface for 0.0.0.0).
        """
        config = parse("--bind-address=127.0.0.2").config
        assert config is not None
        self.assertEqual(config.generic.advertise_address, "127.0.0.2")
        config = parse("--bind-address=0.0.0.0").config
        assert config is not None
        self.assertNotEqual(config.generic.advertise_address, "0.0.0.0")
        config = parse("--bind-address=0.0.0.0", "--advertise-address=10.0.0.9").config
        assert config is not None
        self.assertEqual(config.generic.advertise_address, "10.0.0.9")

    def test_cert_dir_follows_data_dir(self) -> None:
        """
        The default cert dir is <data-dir>/pki.
        """
        config = parse("--data-dir=/srv/k").config
        assert config is not None
        self.assertEqual(config.secure_serving.cert_dir, "/srv/k/pki")

    def test_every_flag_has_help_and_unique_name(self) -> None:
        """
        Every flag is documented and named once across sections.
        """
        names = [f.name for s in SECTIONS for f in s.SECTION.flags]
        self.assertEqual(len(names), len(set(names)))
        for section in SECTIONS:
            for flag in section.SECTION.flags:
                self.assertTrue(flag.help, flag.name)

    def test_config_from_args(self) -> None:
        """
        config_from_args builds a config from keyword flags for embedding and tests.
        """
        config = config_from_args(storage_backend="memory", secure_port="0")
        self.assertEqual(config.etcd.storage_backend, "memory")
        self.assertFalse(config.secure_serving.enabled)


class ValidationTests(SynchronousTestCase):
    """
    Validation reports every problem together and writes nothing.
    """

    def test_every_problem_reported_together(self) -> None:
        """
        One UsageError names each bad flag.
        """
        cwd = self.mktemp()
        os.makedirs(cwd)
        old = os.getcwd()
        os.chdir(cwd)
        self.addCleanup(os.chdir, old)
        with self.assertRaises(usage.UsageError) as raised:
            parse(
                "--secure-port=70000",
                "--insecure-port=http",
                "--tls-cert-file=/nonexistent/cert.pem",
                "--tls-private-key-file=/nonexistent/key.pem",
                "--enable-admission-plugins=NamespaceLifecycle,NoSuchPlugin",
                "--authorization-mode=AlwaysAllow,Sometimes",
                "--insecure-bind-address=10.1.2.3",
                "--request-timeout=soon",
                "--etcd-compaction-interval=5 minutes",
                "--anonymous-auth=maybe",
                "--storage-backend=floppy",
                "--client-ca-file=/nonexistent/ca.pem",
                "--runtime-config=apps/v1=perhaps",
                "--service-node-port-range=9-3",
            )
        message = str(raised.exception)
        for expected in [
            "--secure-port: 70000 must be between 0 and 65535",
            "--insecure-port: invalid integer 'http'",
            "--tls-cert-file: file '/nonexistent/cert.pem' does not exist",
            "--tls-private-key-file: file '/nonexistent/key.pem' does not exist",
            "--enable-admission-plugins: plugin 'NoSuchPlugin' is unknown",
            "authorization mode 'Sometimes' is not a valid mode",
            "--insecure-bind-address: 10.1.2.3 is not a loopback address",
            "--request-timeout: invalid duration",
            "--etcd-compaction-interval: invalid duration",
            "--anonymous-auth: invalid boolean",
            "--storage-backend: 'floppy' is not one of etcd3, embedded, memory",
            "--client-ca-file: file '/nonexistent/ca.pem' does not exist",
            "--runtime-config: invalid value 'perhaps'",
            "--service-node-port-range: invalid port range '9-3'",
        ]:
            self.assertIn(expected, message)
        self.assertIn("14 problem(s)", message)
        self.assertEqual(os.listdir("."), [])

    def test_unreadable_file(self) -> None:
        """
        A cert file that exists but cannot be read is named.
        """
        if os.getuid() == 0:
            # root reads everything; a directory stands in for an unreadable file
            path = self.mktemp()
            os.makedirs(path)
            expected = "is a directory, not a file"
        else:
            path = self.mktemp()
            with open(path, "w") as f:
                f.write("x")
            os.chmod(path, 0)
            expected = "is not readable"
        with self.assertRaises(usage.UsageError) as raised:
            parse(f"--client-ca-file={path}")
        self.assertIn(expected, str(raised.exception))

    def test_etcd3_without_servers(self) -> None:
        """
        The etcd3 backend needs --etcd-servers.
        """
        with self.assertRaises(usage.UsageError) as raised:
            parse("--storage-backend=etcd3")
        self.assertIn("--etcd-servers must be specified", str(raised.exception))

    def test_bad_etcd_server_url(self) -> None:
        """
        An etcd server that is not an http(s) URL is named.
        """
        with self.assertRaises(usage.UsageError) as raised:
            parse("--etcd-servers=127.0.0.1:2379")
        self.assertIn("--etcd-servers: '127.0.0.1:2379' is not an http:// or https:// URL", str(raised.exception))

    def test_bad_listen_endpoint(self) -> None:
        """
        A listen endpoint of a type kapid cannot serve on is named.
        """
        with self.assertRaises(usage.UsageError) as raised:
            parse("--secure-listen-endpoint=ssl:6443", "--insecure-listen-endpoint=nonsense")
        message = str(raised.exception)
        self.assertIn("--secure-listen-endpoint: 'ssl:6443'", message)
        self.assertIn("--insecure-listen-endpoint: 'nonsense'", message)

    def test_unimplemented_mode(self) -> None:
        """
        A kube authorization mode kapid does not implement yet is refused by name.
        """
        _, errors = build_config({"authorization-mode": "ABAC", "authorization-policy-file": __file__})
        self.assertEqual(len(errors), 1)
        self.assertIn("'ABAC' is not implemented by kapid yet", errors[0])

    def test_systemd_endpoint_accepted(self) -> None:
        """
        A systemd socket-activation endpoint is a valid listener.
        """
        config = parse("--secure-listen-endpoint=systemd:domain=INET:index=0").config
        assert config is not None
        self.assertEqual(config.secure_serving.listen_endpoint, "systemd:domain=INET:index=0")


class HelpAndVersionTests(SynchronousTestCase):
    """
    --help prints named sections; --version prints kapid's and the API's versions.
    """

    def test_help_sections(self) -> None:
        """
        The usage lists every section title in order and the flags under them.
        """
        text = tap.Options().getUsage()
        positions = [text.index(title + ":") for title in (
            "Generic flags", "Etcd flags", "Secure serving flags", "Insecure serving flags",
            "Authentication flags", "Authorization flags", "Admission flags", "Auditing flags",
            "API enablement flags", "Misc flags",
        )]
        self.assertEqual(positions, sorted(positions))
        self.assertIn("--etcd-servers=", text)
        self.assertIn('(default "/registry")', text)

    def test_version(self) -> None:
        """
        The version text names kapid's version and the Kubernetes API level.
        """
        text = tap.version_text()
        self.assertIn("kapid 0.", text)
        self.assertIn("Kubernetes API 1.33", text)


class DurationTests(SynchronousTestCase):
    """
    Go durations and booleans parse as pflag parses them.
    """

    def test_parse(self) -> None:
        """
        Go's duration syntax is understood.
        """
        self.assertEqual(parse_duration("1m0s"), 60)
        self.assertEqual(parse_duration("5m"), 300)
        self.assertEqual(parse_duration("1h2m3.5s"), 3723.5)
        self.assertEqual(parse_duration("300ms"), 0.3)
        self.assertEqual(parse_duration("0"), 0)
        for bad in ("5", "m", "1x", "", "1m 2s"):
            self.assertRaises(ValueError, parse_duration, bad)

    def test_format(self) -> None:
        """
        Durations print as Go prints them.
        """
        self.assertEqual(format_duration(60), "1m0s")
        self.assertEqual(format_duration(3600), "1h0m0s")
        self.assertEqual(format_duration(0), "0s")

    def test_bool(self) -> None:
        """
        strconv.ParseBool's spellings.
        """
        self.assertTrue(parse_bool("True"))
        self.assertFalse(parse_bool("0"))
        self.assertRaises(ValueError, parse_bool, "yes")
