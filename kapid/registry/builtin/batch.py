"""
batch/v1 resources: jobs (+status; kube's generated selector) and cronjobs (+status).
"""

from __future__ import annotations

from kapid.registry.builtin._helpers import field, resource, status, v1
from kapid.registry.defaults import job_generate_selector
from kapid.registry.strategy import GenericStrategy


class JobStrategy(GenericStrategy):
    """
    Jobs: status cleared on create, generation tracked, and kube's C{PrepareForCreate} selector
    generation (C{batch.kubernetes.io/controller-uid} labels) unless C{spec.manualSelector}.
    """

    def __init__(self) -> None:
        super().__init__("batch", "Job", has_status=True, tracks_generation=True, reset_status={})

    def prepare_for_create(self, obj: dict) -> None:
        super().prepare_for_create(obj)
        job_generate_selector(obj)


JOBS = resource(
    "batch", "Job", "jobs", v1("io.k8s.api.batch.v1.Job"),
    categories=("all",),
    subresources=(status("Job", "batch"),),
    strategy=JobStrategy(),
    field_selectors={"status.successful": field("status", "succeeded")},
)

CRON_JOBS = resource(
    "batch", "CronJob", "cronjobs", v1("io.k8s.api.batch.v1.CronJob"),
    short_names=("cj",),
    categories=("all",),
    subresources=(status("CronJob", "batch"),),
    tracks_generation=True,
    reset_status={},
)

RESOURCES = [JOBS, CRON_JOBS]
