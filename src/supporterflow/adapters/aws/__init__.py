"""Adapters for the AWS runtime: the ports of :mod:`supporterflow.ports` on AWS services.

boto3 comes with the ``aws`` extra (``pip install 'supporterflow[aws]'``); nothing here is imported
by the embedded (SQLite) runtime."""
