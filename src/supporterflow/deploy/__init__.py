"""The AWS deployment: the CloudFormation template synthesised from the topology."""

from supporterflow.deploy.cloudformation import check_against, synthesize

__all__ = ["check_against", "synthesize"]
