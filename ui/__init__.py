"""Streamlit-side helpers shared by every page: sidebar state, URL allow-list, formatting,
time zones, empty states, banners and cached readers. Pages compose these; no SQL here."""
