"""The seed's Validation Checklist, run against a stack's live registry (`make audit STACK=<stack>`).

- `snapshot`: what is read from the registry, as plain values;
- `readers`: reading it, on an MLflow server or on Unity Catalog;
- `checklist`: every item, judged on those values (pure);
- `report`: the Markdown and JSON the audit writes.

The command is `localdev/audit.py`; docs/audit.md describes every item.
"""
