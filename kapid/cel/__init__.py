"""
CEL for kapid: kube's libraries, type mapping from OpenAPI schemas, cost estimation, and the
validation rules of CustomResourceDefinitions (L{kapid.cel.crd}).
"""
