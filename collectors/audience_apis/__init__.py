"""Clients of the live audience APIs (issue 17): Agora, Cloudflare Stream, Amazon IVS. Each reads
its provider and returns an :class:`~collectors.audience_apis.common.AudienceSnapshot`; the
pollers in collectors/pollers/ store it."""
