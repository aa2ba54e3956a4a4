"""``supporterflow deploy``: the AWS deployment, synthesised from the topology."""

from __future__ import annotations

import json
from collections import Counter
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from supporterflow.bootstrap import load_topology
from supporterflow.config import ConfigurationError
from supporterflow.deploy.cloudformation import check_against, synthesize
from supporterflow.entrypoints.cli_common import err, out, settings_or_exit

deploy_app = typer.Typer(
    no_args_is_help=True,
    help="The AWS deployment: a CloudFormation template synthesised from the topology.",
)


@deploy_app.callback()
def deploy() -> None:
    """The AWS deployment: a CloudFormation template synthesised from the topology."""
    # A callback keeps ``synth`` a sub-command while it is the only one.


class Stage(StrEnum):
    CODE = "CODE"
    PROD = "PROD"


# What the summary counts, by resource type.
_COUNTED = {
    "tables": "AWS::DynamoDB::Table",
    "queues": "AWS::SQS::Queue",
    "functions": "AWS::Lambda::Function",
    "triggers": "AWS::Lambda::EventSourceMapping",
    "schedules": "AWS::Events::Rule",
    "alarms": "AWS::CloudWatch::Alarm",
}


@deploy_app.command()
def synth(
    stage: Annotated[Stage, typer.Option(help="the stage to synthesise for")],
    out_dir: Annotated[Path, typer.Option("--out", help="directory of the template", file_okay=False)] = Path(
        "deploy/out"
    ),
    app_name: Annotated[str, typer.Option("--app", help="app in resource names")] = "mobile-purchases",
    topology_reference: Annotated[
        str | None,
        typer.Option("--topology", metavar="MODULE:ATTRIBUTE", help="default: SF_TOPOLOGY"),
    ] = None,
) -> None:
    """Write <out>/supporterflow-<stage>.template.json: tables, queues, functions and their
    triggers, roles, alarms, all from the topology; no secret (functions read SSM at start)."""
    try:
        topology = load_topology(topology_reference or settings_or_exit().topology)
    except ConfigurationError as error:
        err.print(f"[red]configuration error:[/red] {error}")
        raise typer.Exit(2) from None
    template = synthesize(topology, app=app_name, stage=stage.value)
    problems = check_against(topology, template)
    if problems:  # a bug of the generator: never write such a template
        for problem in problems:
            err.print(f"[red]disagreement:[/red] {problem}")
        raise typer.Exit(1)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"supporterflow-{stage.value}.template.json"
    path.write_text(json.dumps(template, indent=2) + "\n")
    kinds = Counter(resource["Type"] for resource in template["Resources"].values())
    summary = Table(title=f"{app_name} {stage.value}", show_header=False)
    for label, kind in _COUNTED.items():
        summary.add_row(label, str(kinds[kind]))
    summary.add_row("resources", str(len(template["Resources"])))
    out.print(summary)
    out.print(f"wrote {path}")
