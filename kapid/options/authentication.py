"""
Authentication flags: client certificates, anonymous requests, static tokens, service accounts.
"""

from __future__ import annotations

from typing import Any, Optional

import attr

from kapid.options import Checker, Flag, Section, split_list

SECTION = Section(
    "Authentication flags",
    (
        Flag("anonymous-auth", "true", "Enables anonymous requests to the secure port of the API "
             "server. Requests that are not rejected by another authentication method are treated "
             "as anonymous requests. Anonymous requests have a username of system:anonymous, and a "
             "group name of system:unauthenticated."),
        Flag("client-ca-file", "", "If set, any request presenting a client certificate signed by "
             "one of the authorities in the client-ca-file is authenticated with an identity "
             "corresponding to the CommonName of the client certificate. Default: the CA kapid "
             "generates in --cert-dir (the one admin.kubeconfig's certificate is signed by)."),
        Flag("token-auth-file", "", "If set, the file that will be used to secure the secure port "
             "of the API server via token authentication (CSV: token,user,uid,\"group1,group2\")."),
        Flag("service-account-key-file", "", "File containing PEM-encoded x509 RSA or ECDSA private "
             "or public keys, used to verify ServiceAccount tokens."),
        Flag("service-account-issuer", "", "Identifier of the service account token issuer (the "
             "iss claim of the tokens kapid issues). Default: "
             "https://kubernetes.default.svc.cluster.local."),
        Flag("service-account-signing-key-file", "", "Path to the file that contains the current "
             "private key of the service account token issuer (PEM, RSA or ECDSA). Default: a key "
             "pair kapid generates in --cert-dir (sa.key, sa.pub) on first start and reuses."),
        Flag("service-account-max-token-expiration", "0s", "The maximum validity duration of a "
             "token created by the service account token issuer. If an otherwise valid TokenRequest "
             "with a validity duration larger than this value is requested, a token will be issued "
             "with a validity duration of this value."),
        Flag("service-account-jwks-uri", "", "Overrides the URI for the JSON Web Key Set in the "
             "discovery doc served at /.well-known/openid-configuration."),
        Flag("api-audiences", "", "Identifiers of the API. The service account token authenticator "
             "will validate that tokens used against the API are bound to at least one of these "
             "audiences."),
        Flag("oidc-issuer-url", "", "The URL of the OpenID issuer, only HTTPS scheme will be "
             "accepted. If set, it will be used to verify the OIDC JSON Web Token (JWT)."),
        Flag("oidc-client-id", "", "The client ID for the OpenID Connect client, must be set if "
             "oidc-issuer-url is set."),
        Flag("oidc-ca-file", "", "If set, the OpenID server's certificate will be verified by one of "
             "the authorities in the oidc-ca-file, otherwise the host's root CA set will be used."),
        Flag("oidc-username-claim", "sub", "The OpenID claim to use as the user name."),
        Flag("oidc-username-prefix", "", "If provided, all usernames will be prefixed with this "
             "value. If not provided, username claims other than 'email' are prefixed by the issuer "
             "URL to avoid clashes. To skip any prefixing, provide the value '-'."),
        Flag("oidc-groups-claim", "", "If provided, the name of a custom OpenID Connect claim for "
             "specifying user groups. The claim value is expected to be a string or array of strings."),
        Flag("oidc-groups-prefix", "", "If provided, all groups will be prefixed with this value to "
             "prevent conflicts with other authentication strategies."),
        Flag("oidc-required-claim", "", "A key=value pair that describes a required claim in the ID "
             "Token. Comma-separated pairs for several."),
        Flag("oidc-signing-algs", "RS256", "Comma-separated list of allowed JOSE asymmetric signing "
             "algorithms."),
        Flag("authentication-config", "", "File with Authentication Configuration to configure the "
             "JWT Token authenticator (apiserver.config.k8s.io AuthenticationConfiguration; CEL "
             "expressions are not supported yet). Mutually exclusive with the oidc-* flags."),
        Flag("enable-bootstrap-token-auth", "false", "Enable to allow secrets of type "
             "'bootstrap.kubernetes.io/token' in the 'kube-system' namespace to be used for TLS "
             "bootstrapping authentication."),
        Flag("authentication-token-webhook-config-file", "", "File with webhook configuration for "
             "token authentication in kubeconfig format. The API server will query the remote "
             "service to determine authentication for bearer tokens."),
        Flag("authentication-token-webhook-version", "v1beta1", "The API version of the "
             "authentication.k8s.io TokenReview to send to and expect from the webhook."),
        Flag("authentication-token-webhook-cache-ttl", "2m0s", "The duration to cache responses from "
             "the webhook token authenticator."),
        Flag("requestheader-client-ca-file", "", "Root certificate bundle to use to verify client "
             "certificates on incoming requests before trusting usernames in headers specified by "
             "--requestheader-username-headers."),
        Flag("requestheader-username-headers", "", "List of request headers to inspect for "
             "usernames. X-Remote-User is common."),
        Flag("requestheader-group-headers", "", "List of request headers to inspect for groups. "
             "X-Remote-Group is suggested."),
        Flag("requestheader-allowed-names", "", "List of client certificate common names to allow "
             "to provide usernames in headers specified by --requestheader-username-headers."),
        Flag("requestheader-extra-headers-prefix", "", "List of request header prefixes to inspect. "
             "X-Remote-Extra- is suggested."),
    ),
)


@attr.s(frozen=True, auto_attribs=True)
class AuthenticationConfig:
    """
    The completed, validated authentication flags.
    """

    anonymous_auth: bool
    client_ca_file: Optional[str]
    token_auth_file: Optional[str]
    service_account_key_files: tuple[str, ...]
    service_account_issuer: str
    api_audiences: tuple[str, ...]
    requestheader_client_ca_file: Optional[str]
    requestheader_username_headers: tuple[str, ...]
    requestheader_group_headers: tuple[str, ...]
    requestheader_allowed_names: tuple[str, ...]
    service_account_signing_key_file: Optional[str] = None
    token_webhook_config_file: Optional[str] = None
    enable_bootstrap_token_auth: bool = False
    oidc_issuer_url: str = ""
    oidc_client_id: str = ""
    oidc_ca_file: Optional[str] = None
    oidc_username_claim: str = "sub"
    oidc_username_prefix: str = ""
    oidc_groups_claim: str = ""
    oidc_groups_prefix: str = ""
    oidc_required_claim: str = ""
    oidc_signing_algs: str = "RS256"
    authentication_config: Optional[str] = None
    service_account_max_token_expiration: float = 0.0
    service_account_jwks_uri: str = ""
    token_webhook_version: str = "v1beta1"
    token_webhook_cache_ttl: float = 120.0
    requestheader_extra_headers_prefix: tuple[str, ...] = ()


def complete(values: dict[str, Any]) -> None:
    """
    No derived defaults here (the generated CA becomes the client CA at start-up, see
    L{kapid.server.service}).
    """


def validate(values: dict[str, Any]) -> tuple[AuthenticationConfig, list[str]]:
    """
    Parse and check the authentication flags; return the config and every problem found.
    """
    c = Checker(values)
    sa_files = []
    for path in split_list(c.text("service-account-key-file")):
        sub = Checker({"service-account-key-file": path})
        sub.readable_file("service-account-key-file")
        c.errors.extend(sub.errors)
        sa_files.append(path)
    config = AuthenticationConfig(
        anonymous_auth=c.boolean("anonymous-auth"),
        client_ca_file=c.readable_file("client-ca-file"),
        token_auth_file=c.readable_file("token-auth-file"),
        service_account_key_files=tuple(sa_files),
        service_account_issuer=c.text("service-account-issuer"),
        api_audiences=tuple(split_list(c.text("api-audiences"))),
        requestheader_client_ca_file=c.readable_file("requestheader-client-ca-file"),
        requestheader_username_headers=tuple(split_list(c.text("requestheader-username-headers"))),
        requestheader_group_headers=tuple(split_list(c.text("requestheader-group-headers"))),
        requestheader_allowed_names=tuple(split_list(c.text("requestheader-allowed-names"))),
        service_account_signing_key_file=c.readable_file("service-account-signing-key-file"),
        requestheader_extra_headers_prefix=tuple(split_list(c.text("requestheader-extra-headers-prefix"))),
        token_webhook_config_file=c.readable_file("authentication-token-webhook-config-file"),
        enable_bootstrap_token_auth=c.boolean("enable-bootstrap-token-auth"),
        oidc_issuer_url=c.text("oidc-issuer-url"),
        oidc_client_id=c.text("oidc-client-id"),
        oidc_ca_file=c.readable_file("oidc-ca-file"),
        oidc_username_claim=c.text("oidc-username-claim"),
        oidc_username_prefix=c.text("oidc-username-prefix"),
        oidc_groups_claim=c.text("oidc-groups-claim"),
        oidc_groups_prefix=c.text("oidc-groups-prefix"),
        oidc_required_claim=c.text("oidc-required-claim"),
        oidc_signing_algs=c.text("oidc-signing-algs"),
        authentication_config=c.readable_file("authentication-config"),
        service_account_max_token_expiration=c.duration("service-account-max-token-expiration"),
        service_account_jwks_uri=c.text("service-account-jwks-uri"),
        token_webhook_version=c.text("authentication-token-webhook-version"),
        token_webhook_cache_ttl=c.duration("authentication-token-webhook-cache-ttl"),
    )
    limit = config.service_account_max_token_expiration
    if limit and not (3600 <= limit <= 2**32):
        c.error("--service-account-max-token-expiration: the service-account-max-token-expiration must be "
                "between 1 hour and 2^32 seconds")
    if config.oidc_issuer_url:
        if not config.oidc_issuer_url.startswith("https://"):
            c.error(f"--oidc-issuer-url: {config.oidc_issuer_url!r} must use the https scheme")
        if not config.oidc_client_id:
            c.error("--oidc-client-id: must be set when --oidc-issuer-url is set")
    if config.authentication_config and (config.oidc_issuer_url or config.oidc_client_id):
        c.error("--authentication-config: authentication-config file and oidc-* flags are mutually exclusive")
    if config.authentication_config and not c.errors:
        from kapid.auth.jwtauth import issuers_from_config_file

        try:
            issuers_from_config_file(config.authentication_config)
        except (ValueError, OSError, AttributeError, TypeError) as e:
            c.error(f"--authentication-config: {e}")
    if config.token_webhook_version not in ("v1", "v1beta1"):
        c.error(f"--authentication-token-webhook-version: {config.token_webhook_version!r} is not one of v1, v1beta1")
    return config, c.errors
