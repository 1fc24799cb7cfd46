"""HLS audience from delivery logs (issue 17): nginx/Caddy access logs and Cloudflare Logpush
``http_requests`` files, read by collectors/pollers/hls.py.

One concern a module: ``records`` (a parsed request and timestamps), ``combined`` (nginx/Caddy
combined lines), ``jsonlog`` (JSON lines through a field map), ``logpush`` (Cloudflare Logpush
files), ``channels`` (path -> channel), ``tailer`` (offsets, rotation, truncation),
``counting`` (viewers, viewer-seconds, bytes, errors, playlist freshness).
"""
