"""The cleanup timer (SPEC section 6): `CLEANUP_SCHEDULE`, NCRONTAB with seconds, default every 5 minutes."""

from __future__ import annotations

import logging

import azure.durable_functions as df
import azure.functions as func

from cleanup.run import run_cleanup

bp = df.Blueprint()
log = logging.getLogger("gitops.cleanup")


@bp.function_name("cleanup")
@bp.timer_trigger(arg_name="timer", schedule="%CLEANUP_SCHEDULE%")
@bp.durable_client_input(client_name="client")
async def cleanup_timer(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    report = await run_cleanup(client)
    log.info("cleanup run: past_due=%s %s", timer.past_due, report.fields())
