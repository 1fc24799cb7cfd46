"""Billing collectors: what each provider's usage/billing API says we used (issue 8).

One module per provider (``livekit_cloud``, ``agora``, ``cloudflare``, ``aws``, ``hetzner``), a
common ``base`` (normalized rows, HTTP with retries, errors), ``persist`` (replace-a-day writes,
collector status) and ``runner`` (``run_billing_once``, ``BillingScheduler``)."""

from collectors.billing.runner import BillingScheduler, build_collectors, run_billing_once

PROVIDERS: tuple[str, ...] = ("livekit_cloud", "agora", "cloudflare", "aws", "hetzner")

__all__ = ["PROVIDERS", "BillingScheduler", "build_collectors", "run_billing_once"]
