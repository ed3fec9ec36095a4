"""
The etcd v3 L{IKV} over etcd's JSON gateway with treq: L{EtcdKV}, configured with L{EtcdTLS} for TLS.
"""

from kapid.storage.etcd3.client import EtcdKV, EtcdTLS, make_http_client

__all__ = ["EtcdKV", "EtcdTLS", "make_http_client"]
