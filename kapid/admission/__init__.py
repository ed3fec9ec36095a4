"""
Admission (kube's C{k8s.io/apiserver/pkg/admission}): between decoding and storage every write
goes through a chain of L{interfaces.IMutatingAdmission} plugins, then the strategy's validation,
then L{interfaces.IValidatingAdmission} plugins.

  - L{interfaces}: the seam, kube's C{Attributes} and C{NewForbidden};
  - L{chain}: the chain in kube's plugin order, built from the admission flags;
  - L{request}: one request's admission, the callbacks the registry Store calls;
  - L{context}: what plugins read (stores, the watch cache, watched collections);
  - L{plugins}: kube's built-in plugins; L{webhook}: admission webhooks.
"""
