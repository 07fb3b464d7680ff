"""Declarative, Terraform-style reconciler for FluentCart customer records."""

__version__ = "0.1.0"
