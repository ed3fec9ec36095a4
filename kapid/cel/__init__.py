"""
CEL for kapid, on Google's C++ implementation (C{cel-expr-python}; C{bench/cel_candidates.py} has
the measurements behind the choice):

  - L{kapid.cel.compiler}: compiling against variables typed by OpenAPI schemas (kube's type
    mapping and property-name escaping), kube's cost estimate, evaluation with cel-go's errors;
  - L{kapid.cel.library}: kube's libraries (lists, sets, regex, URLs, quantity, IP/CIDR, semver);
  - L{kapid.cel.crd}: CRD validation rules (C{x-kubernetes-validations});
  - L{kapid.cel.admission}: webhook C{matchConditions} and ValidatingAdmissionPolicy expressions;
    L{kapid.cel.policy}: the ValidatingAdmissionPolicy plugin; L{kapid.cel.typecheck}: its
    C{status.typeChecking} controller; L{kapid.cel.strategies}: expressions compiled on write;
  - L{kapid.cel.authn}: structured authentication's claim and user expressions.
"""
