"""The dashboard's Streamlit-aware helpers: the session context, cached data, identity, widgets, charts.

Pages draw; ``registry_core`` decides.  Nothing here chooses a winner, checks a
permission or evaluates a gate: those answers come from the core, and the
dashboard only shows them.
"""
