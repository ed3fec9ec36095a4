"""
Validation of batch/v1 kinds beyond their schema (kube's pkg/apis/batch/validation).
"""

from __future__ import annotations

from typing import Optional

from kapid.apimachinery import field

from .common import (
    Errs,
    go_label_selector,
    go_string_map,
    nonnegative,
    selector_is_empty,
    selector_matches,
    validate_label_selector,
)
from .core import validate_pod_template

_JOB_RESTART = ("OnFailure", "Never")
#: kube keeps CronJob names short enough for the Job names it generates.
CRONJOB_NAME_MAX = 52


def _job_template(spec: dict, path: str, errs: Errs) -> None:
    template = spec.get("template")
    if template is None:
        errs.append(field.required(f"{path}.template"))
        return
    errs.extend(validate_pod_template(template, f"{path}.template"))
    rp = (template.get("spec") or {}).get("restartPolicy")
    if rp not in _JOB_RESTART:
        errs.append(field.not_supported(f"{path}.template.spec.restartPolicy", rp, _JOB_RESTART))


def validate_job_spec(spec: dict, path: str, generated: bool) -> Errs:
    """
    kube's C{ValidateJobSpec}; C{generated} is false for a CronJob's job template (no selector yet).
    """
    errs: Errs = []
    for key in ("parallelism", "completions", "backoffLimit", "activeDeadlineSeconds", "ttlSecondsAfterFinished"):
        errs += nonnegative(spec.get(key), f"{path}.{key}")
    ads = spec.get("activeDeadlineSeconds")
    if isinstance(ads, int) and ads == 0:
        errs.append(field.invalid(f"{path}.activeDeadlineSeconds", 0, "must be greater than 0"))
    mode = spec.get("completionMode")
    if mode is not None and mode not in ("NonIndexed", "Indexed"):
        errs.append(field.not_supported(f"{path}.completionMode", mode, ("NonIndexed", "Indexed")))
    if mode == "Indexed" and spec.get("completions") is None:
        errs.append(
            field.required(f"{path}.completions", "when completion mode is Indexed")
        )
    sel = spec.get("selector")
    if generated:
        if sel is None:
            errs.append(field.required(f"{path}.selector"))
        else:
            errs += validate_label_selector(sel, f"{path}.selector")
            labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
            if not selector_is_empty(sel) and not selector_matches(sel, labels):
                errs.append(
                    field.invalid(
                        f"{path}.template.metadata.labels",
                        go_string_map(labels),
                        "`selector` does not match template `labels`",
                    )
                )
    elif sel is not None:
        errs += validate_label_selector(sel, f"{path}.selector")
    _job_template(spec, path, errs)
    return errs


def _job(obj: dict, old: Optional[dict]) -> Errs:
    spec = obj.get("spec") or {}
    errs = validate_job_spec(spec, "spec", True)
    meta = obj.get("metadata") or {}
    if not spec.get("manualSelector") and spec.get("selector") and meta.get("uid"):
        uid = (spec["selector"].get("matchLabels") or {}).get("batch.kubernetes.io/controller-uid")
        if uid is None and old is None:
            errs.append(
                field.invalid("spec.selector", go_label_selector(spec["selector"]), "`selector` not auto-generated")
            )
    if old is not None:
        ospec = old.get("spec") or {}
        if spec.get("selector") != ospec.get("selector"):
            errs.append(field.invalid("spec.selector", go_label_selector(spec.get("selector")), "field is immutable"))
        if spec.get("completionMode") != ospec.get("completionMode"):
            errs.append(field.invalid("spec.completionMode", spec.get("completionMode"), "field is immutable"))
        if spec.get("completions") != ospec.get("completions") and spec.get("completionMode") != "Indexed":
            errs.append(field.invalid("spec.completions", spec.get("completions"), "field is immutable"))
        # the template may change only while the job is suspended
        if spec.get("template") != ospec.get("template") and not ospec.get("suspend"):
            errs.append(
                field.invalid(
                    "spec.template",
                    field.GoValue("core.PodTemplateSpec{...}"),
                    "field is immutable",
                )
            )
    return errs


_CONCURRENCY = ("Allow", "Forbid", "Replace")


def _cron_job(obj: dict, old: Optional[dict]) -> Errs:
    errs: Errs = []
    name = (obj.get("metadata") or {}).get("name") or ""
    if len(name) > CRONJOB_NAME_MAX:
        errs.append(field.invalid("metadata.name", name, f"must be no more than {CRONJOB_NAME_MAX} characters"))
    spec = obj.get("spec") or {}
    schedule = spec.get("schedule") or ""
    if not schedule:
        errs.append(field.required("spec.schedule"))
    else:
        msg = schedule_error(schedule)
        if msg:
            errs.append(field.invalid("spec.schedule", schedule, msg))
    cp = spec.get("concurrencyPolicy")
    if cp is not None and cp not in _CONCURRENCY:
        errs.append(field.not_supported("spec.concurrencyPolicy", cp, _CONCURRENCY))
    for key in ("startingDeadlineSeconds", "successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
        errs += nonnegative(spec.get(key), f"spec.{key}")
    jt = spec.get("jobTemplate")
    if not isinstance(jt, dict):
        errs.append(field.required("spec.jobTemplate"))
    else:
        errs += validate_job_spec(jt.get("spec") or {}, "spec.jobTemplate.spec", False)
    return errs


_FIELD_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
_NAMES = {
    3: ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"],
    4: ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
}
_DESCRIPTORS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}


def schedule_error(schedule: str) -> Optional[str]:
    """
    A cron schedule's error as kube reports it (C{unparseable schedule ...}), or None when valid.
    """
    s = schedule.strip()
    if s.startswith("TZ=") or s.startswith("CRON_TZ="):
        return "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"
    if s.startswith("@"):
        if s in _DESCRIPTORS or s.startswith("@every "):
            return None
        return f"unrecognized descriptor: {s}"
    fields = s.split()
    if len(fields) != 5:
        return f"expected exactly 5 fields, found {len(fields)}: {s}"
    for i, f in enumerate(fields):
        lo, hi = _FIELD_RANGES[i]
        for part in f.split(","):
            rng, _, step = part.partition("/")
            if step and not step.isdigit():
                return f"failed to parse int from {step}: strconv.Atoi: parsing \"{step}\": invalid syntax"
            if rng in ("*", "?"):
                continue
            bounds = rng.split("-")
            if len(bounds) > 2:
                return f"too many hyphens: {rng}"
            for b in bounds:
                v = _value(b, i)
                if v is None:
                    return f'failed to parse int from {b}: strconv.Atoi: parsing "{b}": invalid syntax'
                if not lo <= v <= hi:
                    if v < lo:
                        return f"beginning of range ({v}) below minimum ({lo}): {rng}"
                    return f"end of range ({v}) above maximum ({hi}): {rng}"
    return None


def _value(text: str, i: int) -> Optional[int]:
    names = _NAMES.get(i)
    if names and text.upper() in names:
        return names.index(text.upper()) + (1 if i == 3 else 0)
    return int(text) if text.isdigit() else None


VALIDATORS = {"Job": _job, "CronJob": _cron_job}
